// The request target before routing: normalised once for HTTP/1 and HTTP/2 alike, so routes
// match the path the app will resolve, and redirect_to_https, which answers every request on
// its listener whatever the protocol.
#include <string>

#include "proxy/exchange/exchange.h"
#include "proxy/http/path_normalize.h"
#include "proxy/policy/request_target.h"

namespace meridian::proxy {

using core::Error;
using core::ErrorKind;
using core::Side;

namespace {

// The Host without its port ("[::1]:8080" -> "[::1]").
std::string_view hostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t end = host.find(']');
    return end == std::string_view::npos ? host : host.substr(0, end + 1);
  }
  return host.substr(0, host.find(':'));
}

}  // namespace

// Routes see, and the upstream gets, the normal form of the path; the query goes as sent.
bool Exchange::normalizeTarget() {
  std::string_view sent = http1::originForm(head_.target);
  http::TargetVerdict v = http::normalizeTarget(
      sent, escapedSlashesFor(snap_->config->limits.escaped_slashes), target_);
  switch (v) {
    case http::TargetVerdict::Unchanged:
      return true;
    case http::TargetVerdict::Normalized:
      head_.target = target_;
      return true;
    case http::TargetVerdict::Redirect:
      // The client asks again for the path it meant, so every hop between sees the same one.
      host_.stats().add(Counter::EscapedSlashRedirects);
      answerStored(StoredResponse{307, {{"location", target_}}, {}});
      return false;
    case http::TargetVerdict::EscapedSlash:
      host_.stats().add(Counter::EscapedSlash);
      break;
    default:
      host_.stats().add(Counter::BadPath);
      break;
  }
  failBeforeResponse(Error{ErrorKind::BadPath, Side::Downstream, false, refusedTargetReason(v)});
  return false;
}

// HTTP-01 (RFC 8555, 8.3): a plain listener answers the ACME server's GET for a token of an
// order under way itself, before routing and before redirect_to_https (the server would follow
// the redirect, but only to port 443). Unknown tokens go on like any request.
bool Exchange::answerAcmeChallenge() {
  static constexpr std::string_view kPrefix = "/.well-known/acme-challenge/";
  if (down_.listener().tls || !snap_->acme) return false;
  if (head_.method != "GET" && head_.method != "HEAD") return false;
  std::string_view path = http1::originForm(head_.target);
  path = path.substr(0, path.find('?'));
  if (!path.starts_with(kPrefix)) return false;
  auto answer = snap_->acme->httpAnswer(std::string(path.substr(kPrefix.size())));
  if (!answer) return false;
  answerStored(StoredResponse{200, {{"content-type", "application/octet-stream"}}, *answer});
  return true;
}

// A plain listener with redirect_to_https answers every request 308 to https on that port,
// HTTP/2 with prior knowledge too; 308 keeps the method and body (unlike 301 and 302). A body
// is not read: the connection closes after the answer instead.
bool Exchange::redirectToHttps() {
  if (down_.listener().tls) return false;
  uint16_t port = 0;
  for (const auto& l : snap_->config->listeners)
    if (l.name == down_.listener().name) port = l.redirect_to_https.value_or(0);
  if (port == 0) return false;
  std::string_view host = hostWithoutPort(head_.host);
  if (host.empty()) {
    failBeforeResponse(Error{ErrorKind::ProtocolError, Side::Downstream, false, "no host"});
    return true;
  }
  std::string_view target = http1::originForm(head_.target);
  if (target == "*") target = "/";  // OPTIONS *: the server as a whole
  std::string location = "https://";
  location.append(host).append(":").append(std::to_string(port));
  if (target.starts_with('?')) location += '/';
  location.append(target);
  answerStored(StoredResponse{308, {{"location", std::move(location)}}, {}});
  return true;
}

}  // namespace meridian::proxy
