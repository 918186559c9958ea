// The request target before routing: normalised once for HTTP/1 and HTTP/2 alike, so routes
// match the path the app will resolve.
#include <string>

#include "proxy/exchange/exchange.h"
#include "proxy/http/path_normalize.h"

namespace meridian::proxy {

using core::Error;
using core::ErrorKind;
using core::Side;

namespace {

http::EscapedSlashes escapedSlashes(config::EscapedSlashes e) {
  switch (e) {
    case config::EscapedSlashes::Keep:
      return http::EscapedSlashes::Keep;
    case config::EscapedSlashes::UnescapeAndRedirect:
      return http::EscapedSlashes::UnescapeAndRedirect;
    case config::EscapedSlashes::UnescapeAndForward:
      return http::EscapedSlashes::UnescapeAndForward;
    case config::EscapedSlashes::Reject:
      break;
  }
  return http::EscapedSlashes::Reject;
}

const char* verdictText(http::TargetVerdict v) {
  switch (v) {
    case http::TargetVerdict::Fragment:
      return "fragment in request target";
    case http::TargetVerdict::BadEncoding:
      return "bad percent-encoding in path";
    case http::TargetVerdict::EscapedSlash:
      return "escaped slash or backslash in path";
    default:
      return "request target is not a path";
  }
}

}  // namespace

// Routes see, and the upstream gets, the normal form of the path; the query goes as sent.
bool Exchange::normalizeTarget() {
  std::string_view sent = http1::originForm(head_.target);
  http::TargetVerdict v =
      http::normalizeTarget(sent, escapedSlashes(snap_->config->limits.escaped_slashes), target_);
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
  failBeforeResponse(Error{ErrorKind::BadPath, Side::Downstream, false, verdictText(v)});
  return false;
}

}  // namespace meridian::proxy
