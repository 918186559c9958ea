#pragma once
// Prometheus text exposition format 0.0.4, written by hand: /metrics is scraped every few
// seconds and must not depend on a client library's registry or locking model. Every family
// gets `# HELP` and `# TYPE` once, then its samples; callers keep samples of one family
// together and sorted so that two scrapes of the same state are byte-identical.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace meridian::proxy {

// A label name (an identifier chosen in code, never escaped) and its value (escaped).
using MetricLabel = std::pair<std::string_view, std::string_view>;

// Appends `value` escaped for use inside a label's double quotes: \ " and newline.
void appendLabelValue(std::string& out, std::string_view value);

// Appends `# HELP name help` (help escaped: \ and newline) and `# TYPE name type`.
void appendFamilyHeader(std::string& out, std::string_view name, std::string_view help,
                        std::string_view type);

// Numbers as Prometheus parses them: integers exactly, doubles in their shortest round-trip
// form, non-finite ones as +Inf, -Inf and NaN.
void appendMetricNumber(std::string& out, uint64_t value);
void appendMetricNumber(std::string& out, int64_t value);
void appendMetricNumber(std::string& out, double value);

// Appends `name{l1="v1",...} value\n` (no braces when there are no labels).
void appendSampleName(std::string& out, std::string_view name, std::span<const MetricLabel> labels);
template <typename T>
requires std::is_arithmetic_v<T>
void appendSample(std::string& out, std::string_view name, std::span<const MetricLabel> labels,
                  T value) {
  appendSampleName(out, name, labels);
  out += ' ';
  if constexpr (std::is_floating_point_v<T>) {
    appendMetricNumber(out, static_cast<double>(value));
  } else if constexpr (std::is_signed_v<T>) {
    appendMetricNumber(out, static_cast<int64_t>(value));
  } else {
    appendMetricNumber(out, static_cast<uint64_t>(value));
  }
  out += '\n';
}

// A whole unlabelled family in one call, for the process-wide counters and gauges.
void appendCounter(std::string& out, std::string_view name, std::string_view help, uint64_t value);
void appendGauge(std::string& out, std::string_view name, std::string_view help, double value);

}  // namespace meridian::proxy
