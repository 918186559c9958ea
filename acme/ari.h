#pragma once
// ACME Renewal Information (RFC 9773): the server's suggested window to renew a certificate
// in, fetched from the directory's `renewalInfo` URL plus the certificate's ARI id.
#include <ctime>
#include <optional>
#include <string_view>
#include <utility>

namespace meridian::acme {

// RFC 3339 UTC time ("2025-01-02T03:04:05Z", fractions and offsets allowed); nullopt if not.
std::optional<time_t> parseRfc3339(std::string_view text);

// {"suggestedWindow": {"start": T, "end": T}}: the window, or nullopt when malformed or
// empty (end before start).
std::optional<std::pair<time_t, time_t>> parseRenewalWindow(std::string_view body);

// When to renew: a uniform draw (`unit` in [0, 1)) inside the window, as RFC 9773, 4.2 asks
// so that clients do not all come at its start.
time_t renewalTimeIn(std::pair<time_t, time_t> window, double unit);

}  // namespace meridian::acme
