#include "proxy/policy/request_target.h"

namespace meridian::proxy {

http::EscapedSlashes escapedSlashesFor(config::EscapedSlashes e) {
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

const char* refusedTargetReason(http::TargetVerdict v) {
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

core::Result<std::string> routedPath(std::string_view target, config::EscapedSlashes e) {
  std::string out;
  http::TargetVerdict v = http::normalizeTarget(target, escapedSlashesFor(e), out);
  switch (v) {
    case http::TargetVerdict::Unchanged:
      return std::string(target);
    case http::TargetVerdict::Normalized:
    case http::TargetVerdict::Redirect:
      return out;
    default:
      return core::Error{core::ErrorKind::BadPath, core::Side::Downstream, false,
                         std::string("a request for this path is refused (400): ") +
                             refusedTargetReason(v)};
  }
}

}  // namespace meridian::proxy
