#pragma once
// One client connection speaking HTTP/1.1: reads request heads (a slow head gets 408), hands
// each request to an Exchange, answers pipelined requests in order (the next head is parsed
// only after the previous response is written), keeps the connection alive between requests
// (closed quietly after keepalive_timeout), and closes gracefully: our FIN first, then the
// client's bytes are read and dropped for a moment so a late byte cannot turn the close into
// a reset that destroys the response still in flight.
//
// On a TLS listener the connection first runs the handshake (its Stream carries the TLS
// transport; SNI and ALPN are decided in certs/), then dispatches on the negotiated protocol.
//
// Idle, a connection holds no buffers: its input and output buffers and, on TLS, OpenSSL's
// record buffers (16 KiB each way) go back once the response is out (at once, or when a late
// write drains), and after the handshake until the first request. A busy client (its next
// request came within kBufferReleaseDelay) keeps them between requests until it stays away
// that long: the free and malloc per request were about 3% of an HTTPS/1.1 request's CPU.
// What stays is OpenSSL's per-connection state (about 13.4 KiB with OpenSSL 3.0, the SSL
// object alone 7.4 KiB) and ours (about 0.5 KiB).
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/deadline_queue.h"
#include "core/event_loop.h"
#include "core/stream.h"
#include "proxy/downstream/downstream_host.h"
#include "proxy/downstream/http1_client_side.h"
#include "proxy/http/http1_parser.h"
#include "proxy/observe/stats.h"
#include "routing/geo.h"

namespace meridian::proxy {

class Exchange;
class H2Session;
struct ListenSocket;

class DownstreamConn final : public core::StreamHandler,
                             public core::Disposable,
                             public core::DeadlineQueue::Entry {
 public:
  DownstreamConn(DownstreamHost& worker, int fd, const ListenSocket& listener,
                 const sockaddr_storage& peer);
  ~DownstreamConn() override;

  core::Stream& stream() { return *stream_; }
  std::string_view clientIp() const { return client_ip_; }
  const routing::IpAddress& peer() const { return peer_; }
  const ListenSocket& listener() const { return listener_; }
  // The application protocol: "http/1.1", or "h2" once negotiated by ALPN.
  std::string_view protocol() const { return protocol_ == Protocol::H2 ? "h2" : "http/1.1"; }

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
  void onHandshakeDone(core::Stream&) override;
  // The header, keep-alive or lingering-close deadline passed.
  void onDeadline() override;

  static constexpr size_t kMaxPipelinedBytes = 64 * 1024;
  // How long a busy keep-alive connection (one that came back this quickly last time) waits
  // before giving back its buffers; others give them back as soon as they idle.
  static constexpr core::Millis kBufferReleaseDelay{200};

 private:
  enum class State { Idle, ReadingHead, InExchange, Closing, Closed };
  enum class Protocol : uint8_t { Http1, H2 };

  void processInput();
  bool startExchange(http1::RequestHead& head, const char* data, size_t consumed);
  // An answer before any exchange (400, 405, 408, 431, 505), then a graceful close.
  void reject(int status, const char* code, Counter counter, size_t bytes_in,
              const http1::RequestHead* head = nullptr);
  void startTls();
  // HTTP/2 (ALPN h2, or the prior-knowledge preface): the session owns the protocol from here.
  void startH2();
  void countHandshakeFailure(const char* why);
  void closeGracefully();
  // After the last request of a client that asked to close: true when the connection could
  // be closed at once (see closeAfterLastRequest in the .cc).
  bool closeAfterLastRequest();
  void closeNow();
  // Idle between requests: buffers go back now, or after kBufferReleaseDelay for a busy client.
  void enterKeepAlive(const config::Limits& limits);
  void releaseIdleBuffers();
  void armDeadline(core::Millis after);
  void cancelDeadline();

  DownstreamHost& worker_;  // the worker this connection lives on
  const ListenSocket& listener_;
  std::unique_ptr<core::Stream> stream_;
  Http1ClientSide side_;  // what the exchange of the current request writes to
  std::unique_ptr<Exchange> exchange_;
  std::unique_ptr<H2Session> h2_;  // set once the connection speaks HTTP/2
  State state_ = State::Idle;
  bool in_process_ = false;
  bool seen_request_ = false;
  // Idle with the release delay as its deadline (the keep-alive deadline follows it).
  bool release_delay_armed_ = false;
  // The last request came before the release delay passed: keep buffers between requests.
  bool busy_ = false;
  // The current request said it is the last (`Connection: close`, or HTTP/1.0 without
  // keep-alive): once it is answered and nothing more came, the close needs no lingering.
  bool client_closes_ = false;
  Protocol protocol_ = Protocol::Http1;
  int64_t head_started_ms_ = 0;  // monotonic: when the first byte of this request's head came
  routing::IpAddress peer_;
  char client_ip_[48] = {};
};

}  // namespace meridian::proxy
