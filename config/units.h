#pragma once
// Parsers for the small value grammars the config uses. Each returns nullopt on bad input;
// the loader turns that into a diagnostic with the value's line and column.
#include <cstdint>
#include <optional>
#include <string_view>

#include "config/config.h"

namespace meridian::config {

std::optional<Duration> parseDuration(std::string_view s);  // "250ms", "2s", "1m", "1h", "30d"
std::optional<uint64_t> parseSize(std::string_view s);      // "512", "16KiB", "1MiB", "1GiB"
std::optional<HostPort> parseHostPort(std::string_view s);  // "0.0.0.0:8443", "[::1]:80", "h:1"
std::optional<Cidr> parseCidr(std::string_view s);          // "10.0.0.0/8", "::1/128", "1.2.3.4"
std::optional<int> parsePercent(std::string_view s);        // "10%" (0..100)

}  // namespace meridian::config
