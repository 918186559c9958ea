#pragma once
// The client side of a request on an HTTP/1.x connection: the DownstreamConn's socket, with
// responses written in HTTP/1.1 (chunked framing where the length is unknown).
#include "proxy/exchange/client_side.h"

namespace meridian::proxy {

class DownstreamConn;

class Http1ClientSide final : public ClientSide {
 public:
  explicit Http1ClientSide(DownstreamConn& conn) : conn_(conn) {}
  // Each request's own version: 1xx and trailers mean nothing to an HTTP/1.0 client.
  void setMinorVersion(int minor_version) { minor_version_ = minor_version; }

  const routing::IpAddress& peer() const override;
  std::string_view clientIp() const override;
  const ListenSocket& listener() const override;
  std::string_view protocolName() const override;

  core::Buffer& requestInput() override;
  bool requestInputEnded() const override { return false; }
  void pauseRequestInput() override;
  void resumeRequestInput() override;
  bool requestInputPaused() const override;

  // Heads and whole responses are only queued (Sent::Ok): the flush that follows finds a
  // client gone. 1xx responses are sent at once.
  HeadSent writeResponseHead(const http1::ResponseHead& head,
                             const http1::ResponseOptions& opt) override;
  Sent writeInterimResponse(const http1::ResponseHead& head) override;
  Sent writeContinue() override;
  Sent writeErrorResponse(int status, std::string_view code, bool close,
                          bool head_request) override;
  Sent writeStoredResponse(int status,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           std::string_view body, bool close, bool head_request) override;
  core::Buffer& responseOutput() override;
  Sent flush() override;
  bool responsePending() const override;
  int spliceTargetFd() const override;
  Sent shutdownWrite() override;

  void exchangeDone(bool keep_alive) override;
  void exchangeAborted() override;

 private:
  DownstreamConn& conn_;
  int minor_version_ = 1;
};

}  // namespace meridian::proxy
