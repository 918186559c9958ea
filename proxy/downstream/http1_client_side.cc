#include "proxy/downstream/http1_client_side.h"

#include "proxy/downstream/downstream_conn.h"

namespace meridian::proxy {

const routing::IpAddress& Http1ClientSide::peer() const {
  return conn_.peer();
}
std::string_view Http1ClientSide::clientIp() const {
  return conn_.clientIp();
}
const ListenSocket& Http1ClientSide::listener() const {
  return conn_.listener();
}
std::string_view Http1ClientSide::protocolName() const {
  return minor_version_ == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

core::Buffer& Http1ClientSide::requestInput() {
  return conn_.stream().input();
}
void Http1ClientSide::pauseRequestInput() {
  conn_.stream().pauseReading();
}
void Http1ClientSide::resumeRequestInput() {
  conn_.stream().resumeReading();
}
bool Http1ClientSide::requestInputPaused() const {
  return const_cast<DownstreamConn&>(conn_).stream().readingPaused();
}

HeadSent Http1ClientSide::writeResponseHead(const http1::ResponseHead& head,
                                            const http1::ResponseOptions& opt) {
  return {Sent::Ok, http1::writeClientResponseHead(head, opt, conn_.stream().output())};
}

// 1xx responses mean nothing to an HTTP/1.0 client.
Sent Http1ClientSide::writeInterimResponse(const http1::ResponseHead& head) {
  if (minor_version_ == 0) return Sent::Ok;
  http1::writeInterimResponse(head, conn_.stream().output());
  return flush();
}

Sent Http1ClientSide::writeContinue() {
  conn_.stream().output().append("HTTP/1.1 100 Continue\r\n\r\n");
  return flush();
}

Sent Http1ClientSide::writeErrorResponse(int status, std::string_view code, bool close,
                                         bool head_request) {
  http1::writeErrorResponse(status, code, close, head_request, conn_.stream().output());
  return Sent::Ok;
}

Sent Http1ClientSide::writeStoredResponse(
    int status, const std::vector<std::pair<std::string, std::string>>& headers,
    std::string_view body, bool close, bool head_request) {
  http1::writeStoredResponse(status, headers, body, close, head_request, conn_.stream().output());
  return Sent::Ok;
}

core::Buffer& Http1ClientSide::responseOutput() {
  return conn_.stream().output();
}
Sent Http1ClientSide::flush() {
  return conn_.stream().flush() ? Sent::Ok : Sent::ClientGone;
}
bool Http1ClientSide::responsePending() const {
  return const_cast<DownstreamConn&>(conn_).stream().writePending();
}
int Http1ClientSide::spliceTargetFd() const {
  core::Stream& s = const_cast<DownstreamConn&>(conn_).stream();
  return s.transport() == nullptr ? s.fd() : -1;
}
Sent Http1ClientSide::shutdownWrite() {
  conn_.stream().shutdownWrite();
  return Sent::Ok;
}

void Http1ClientSide::exchangeDone(bool keep_alive) {
  conn_.exchangeDone(keep_alive);
}
void Http1ClientSide::exchangeAborted() {
  conn_.exchangeAborted();
}

}  // namespace meridian::proxy
