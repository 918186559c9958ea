#pragma once
// ClientSide: what an Exchange needs of the client end of one request, whether that is an
// HTTP/1.1 connection (DownstreamConn) or one stream of an HTTP/2 connection (H2Session).
// The exchange speaks in HTTP/1 terms (RequestHead, ResponseHead); each side turns them into
// its own wire format. The side tells its exchange about progress through the Exchange's
// onDownstreamData / onDownstreamDrained / onDownstreamEof / onDownstreamGone.
//
// One rule for a client that goes away: a side never calls its exchange back from inside one
// of the calls below. A call that can find the client gone says so in its result (`Sent`,
// [[nodiscard]]), and the exchange ends itself; a side that finds the client gone between
// calls (from the loop: a reset stream, a failed socket) calls onDownstreamGone.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/buffer.h"
#include "proxy/http/http1_parser.h"
#include "proxy/http/http1_writer.h"
#include "routing/geo.h"

namespace meridian::proxy {

// A listening socket and what requests arriving on it need to know of its listener.
struct ListenSocket {
  int fd = -1;
  std::string name;    // the listener's name
  std::string region;  // the listener's region
  bool tls = false;
};

// What a call towards the client found: it is still there, or it has gone (the exchange must
// end; the side has not called it back).
// (clang-format 14 glues the braces of an enum with an attribute to its name.)
// clang-format off
enum class [[nodiscard]] Sent : uint8_t { Ok, ClientGone };
// clang-format on

// writeResponseHead's result: Sent, and whether the exchange must chunk-frame the body it
// writes (an HTTP/1.1 client and a body of unknown length; HTTP/2 never needs that).
struct [[nodiscard]] HeadSent {
  Sent sent = Sent::Ok;
  bool chunk_body = false;
};

class ClientSide {
 public:
  virtual ~ClientSide() = default;

  // Who is asking, and on which listener.
  virtual const routing::IpAddress& peer() const = 0;
  virtual std::string_view clientIp() const = 0;
  virtual const ListenSocket& listener() const = 0;
  // "HTTP/1.1", "HTTP/1.0" or "HTTP/2", for the access log.
  virtual std::string_view protocolName() const = 0;

  // Request body bytes as they arrive. HTTP/1: raw bytes in the head's framing (chunked
  // included). HTTP/2: DATA payloads, framing removed; the head's framing is then
  // ContentLength, None, or UntilClose (the body ends with the stream: requestInputEnded).
  virtual core::Buffer& requestInput() = 0;
  // HTTP/2: the client ended its stream and every DATA byte is in requestInput(). HTTP/1:
  // always false (the framing says where the body ends).
  virtual bool requestInputEnded() const = 0;
  // Back-pressure: stop taking request bytes from the client (HTTP/2: stop granting flow
  // control window), and start again. Neither sends anything now, so neither finds the client
  // gone.
  virtual void pauseRequestInput() = 0;
  virtual void resumeRequestInput() = 0;
  virtual bool requestInputPaused() const = 0;
  // HTTP/2: the request's trailer fields, as lines "name: value\r\n", once the input ended.
  // HTTP/1 trailers ride in the chunked bytes of requestInput() and are re-framed with them.
  virtual std::string_view requestTrailers() const { return {}; }

  // The response. Each call below that sends, or queues to send, reports a client found gone.
  virtual HeadSent writeResponseHead(const http1::ResponseHead& head,
                                     const http1::ResponseOptions& opt) = 0;
  // 1xx other than 100 and 101 (103 Early Hints): sent when the client's protocol allows.
  virtual Sent writeInterimResponse(const http1::ResponseHead& head) = 0;
  // 100 Continue, once, when the client sent Expect: 100-continue (HTTP/1.1 or HTTP/2).
  virtual Sent writeContinue() = 0;
  // Whole responses Meridian makes itself (errors, redirects, stored answers).
  virtual Sent writeErrorResponse(int status, std::string_view code, bool close,
                                  bool head_request) = 0;
  virtual Sent writeStoredResponse(int status,
                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                   std::string_view body, bool close, bool head_request) = 0;
  // Response body bytes go here (HTTP/1: with the framing the exchange writes).
  virtual core::Buffer& responseOutput() = 0;
  // The response's trailer fields (lines "name: value\r\n"), before exchangeDone, when the
  // exchange does not write the framing itself (HTTP/2: a trailing HEADERS frame). An
  // HTTP/1.0 client, which cannot take them, never hears of them. Kept, not sent: the flush
  // or exchangeDone that follows sends them.
  virtual void writeResponseTrailers(std::string_view) {}
  // Sends what responseOutput() holds as far as the client takes it now.
  virtual Sent flush() = 0;
  // Bytes of the response are still waiting for the client to take them.
  virtual bool responsePending() const = 0;
  // The socket a response body may be spliced into (core::SpliceRelay) once
  // responseOutput() is empty: a plain HTTP/1.x connection's; -1 otherwise (TLS, HTTP/2).
  virtual int spliceTargetFd() const { return -1; }
  // After a 101 (tunnels only), the upstream's side ended: half-close towards the client.
  virtual Sent shutdownWrite() = 0;

  // The exchange is finished: its whole response is in responseOutput() (HTTP/2: end the
  // stream after it). keep_alive (HTTP/1): the connection may serve another request.
  virtual void exchangeDone(bool keep_alive) = 0;
  // The response cannot be completed: HTTP/1 resets the connection, HTTP/2 the stream.
  virtual void exchangeAborted() = 0;
};

}  // namespace meridian::proxy
