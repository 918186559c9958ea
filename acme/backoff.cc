#include "acme/backoff.h"

#include <algorithm>

namespace meridian::acme {

std::chrono::milliseconds Backoff::wait(int failures, double unit) const {
  double ceiling = static_cast<double>(base.count());
  // Doubling stops at the cap, so a long outage cannot overflow the exponent.
  for (int i = 1; i < failures && ceiling < static_cast<double>(cap.count()); ++i) ceiling *= 2;
  ceiling = std::min(ceiling, static_cast<double>(cap.count()));
  unit = std::clamp(unit, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<long long>(ceiling / 2 + unit * ceiling / 2));
}

}  // namespace meridian::acme
