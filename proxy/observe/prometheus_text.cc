#include "proxy/observe/prometheus_text.h"

#include <charconv>
#include <cmath>

namespace meridian::proxy {

namespace {
// Escapes backslash and newline always, and the double quote when `quote` is set: label values
// need all three, HELP text only the first two (format 0.0.4).
void appendEscaped(std::string& out, std::string_view s, bool quote) {
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    const char* esc = nullptr;
    if (c == '\\') {
      esc = "\\\\";
    } else if (c == '\n') {
      esc = "\\n";
    } else if (c == '"' && quote) {
      esc = "\\\"";
    }
    if (esc == nullptr) continue;
    out.append(s.data() + run, i - run);
    out += esc;
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

template <typename T>
void appendChars(std::string& out, T value) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, res.ptr);
}
}  // namespace

void appendLabelValue(std::string& out, std::string_view value) {
  appendEscaped(out, value, /*quote=*/true);
}

void appendFamilyHeader(std::string& out, std::string_view name, std::string_view help,
                        std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  appendEscaped(out, help, /*quote=*/false);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void appendMetricNumber(std::string& out, uint64_t value) {
  appendChars(out, value);
}

void appendMetricNumber(std::string& out, int64_t value) {
  appendChars(out, value);
}

void appendMetricNumber(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    appendChars(out, value);
  }
}

void appendSampleName(std::string& out, std::string_view name,
                      std::span<const MetricLabel> labels) {
  out += name;
  if (labels.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [label, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += label;
    out += "=\"";
    appendLabelValue(out, value);
    out += '"';
  }
  out += '}';
}

void appendCounter(std::string& out, std::string_view name, std::string_view help, uint64_t value) {
  appendFamilyHeader(out, name, help, "counter");
  appendSample(out, name, {}, value);
}

void appendGauge(std::string& out, std::string_view name, std::string_view help, double value) {
  appendFamilyHeader(out, name, help, "gauge");
  appendSample(out, name, {}, value);
}

}  // namespace meridian::proxy
