#pragma once
// One client connection speaking HTTP/1.1: reads request heads (a slow head gets 408), hands
// each request to an Exchange, answers pipelined requests in order (the next head is parsed
// only after the previous response is written), keeps the connection alive between requests
// (closed quietly after keepalive_timeout), and closes gracefully: our FIN first, then the
// client's bytes are read and dropped for a moment so a late byte cannot turn the close into
// a reset that destroys the response still in flight.
#include <sys/socket.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/deadline_queue.h"
#include "core/event_loop.h"
#include "core/stream.h"
#include "proxy/http1_parser.h"
#include "proxy/stats.h"
#include "routing/geo.h"

namespace meridian::proxy {

class Exchange;
class Worker;
struct ListenSocket;

class DownstreamConn final : public core::StreamHandler,
                             public core::Disposable,
                             public core::DeadlineQueue::Entry {
 public:
  DownstreamConn(Worker& worker, int fd, const ListenSocket& listener,
                 const sockaddr_storage& peer);
  ~DownstreamConn() override;

  core::Stream& stream() { return *stream_; }
  std::string_view clientIp() const { return client_ip_; }
  const routing::IpAddress& peer() const { return peer_; }
  const ListenSocket& listener() const { return listener_; }

  // From the exchange: its response is fully queued (keep_alive: serve the next request).
  void exchangeDone(bool keep_alive);
  // From the exchange: the response cannot be completed; reset the connection.
  void exchangeAborted();
  // Drain: close now if no request is in progress; otherwise after the current response.
  void closeIfIdle();

  void onData(core::Stream&) override;
  void onEof(core::Stream&) override;
  void onError(core::Stream&, int err) override;
  void onDrained(core::Stream&) override;
  // The header, keep-alive or lingering-close deadline passed.
  void onDeadline() override;

  static constexpr size_t kMaxPipelinedBytes = 64 * 1024;

 private:
  enum class State { Idle, ReadingHead, InExchange, Closing, Closed };

  void processInput();
  bool startExchange(http1::RequestHead& head, const char* data, size_t consumed);
  void reject(int status, const char* code, Counter counter);
  void closeGracefully();
  void closeNow();
  void armDeadline(core::Millis after);
  void cancelDeadline();

  Worker& worker_;
  const ListenSocket& listener_;
  std::unique_ptr<core::Stream> stream_;
  std::unique_ptr<Exchange> exchange_;
  State state_ = State::Idle;
  bool in_process_ = false;
  bool seen_request_ = false;
  routing::IpAddress peer_;
  char client_ip_[48] = {};
};

}  // namespace meridian::proxy
