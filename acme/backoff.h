#pragma once
// How long the ACME client waits after a failed order: exponential from `base`, capped at
// `cap`, with jitter so that a fleet of instances that failed together does not retry
// together. Pure: the random draw is an argument.
#include <chrono>

namespace meridian::acme {

struct Backoff {
  std::chrono::milliseconds base{std::chrono::seconds(5)};
  std::chrono::milliseconds cap{std::chrono::hours(6)};

  // The wait before retry number `failures` (1 after the first failure): a uniform draw
  // (`unit` in [0, 1)) between half and all of min(cap, base * 2^(failures-1)).
  std::chrono::milliseconds wait(int failures, double unit) const;
};

}  // namespace meridian::acme
