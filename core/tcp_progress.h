#pragma once
// What the kernel knows of a TCP connection's progress (TCP_INFO): whether bytes we sent are
// still waiting for the peer's acknowledgement, and for how long no acknowledgement came.
// A peer that stops acknowledging is unreachable (its packets dropped, its accept queue full)
// long before any response timeout says so.
#include <cstdint>
#include <optional>

namespace meridian::core {

struct TcpProgress {
  uint32_t unacked_segments = 0;  // sent, not yet acknowledged
  int64_t since_last_ack_ms = 0;  // since the last acknowledgement arrived
  int64_t rtt_ms = 0;             // smoothed round trip, as the kernel measured it
};

// Nothing for a socket that is not TCP, or on error.
std::optional<TcpProgress> tcpProgress(int fd);

}  // namespace meridian::core
