#pragma once
// GET /config: the effective config (defaults filled in) as JSON, with its generation.
// Durations are written as in YAML ("250ms", "2s"), sizes in bytes, and TLS private-key paths
// as "<redacted>": the answer may be pasted into tickets, and a key's location is a secret's
// first half.
#include <cstdint>
#include <string>

#include "config/config.h"

namespace meridian::proxy {

inline constexpr char kRedacted[] = "<redacted>";

// {"generation": N, "config": {...}}, pretty-printed, one trailing newline.
std::string configJson(const config::Config& cfg, uint64_t generation);

// "250ms", "2s", "1m", "1h": the largest unit that divides the value exactly.
std::string durationText(config::Duration d);

}  // namespace meridian::proxy
