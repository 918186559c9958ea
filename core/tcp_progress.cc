#include "core/tcp_progress.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace meridian::core {

std::optional<TcpProgress> tcpProgress(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return std::nullopt;
  TcpProgress p;
  p.unacked_segments = ti.tcpi_unacked;
  p.since_last_ack_ms = ti.tcpi_last_ack_recv;
  p.rtt_ms = ti.tcpi_rtt / 1000;
  return p;
}

}  // namespace meridian::core
