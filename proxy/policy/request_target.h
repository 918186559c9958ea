#pragma once
// The request target as routes see it, in one place for the exchange (which acts on it) and
// for explain (which must show the route a real request would take): the config's
// `limits.escaped_slashes` mapped onto the normaliser, and the words for a refused target.
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/error.h"
#include "proxy/http/path_normalize.h"

namespace meridian::proxy {

http::EscapedSlashes escapedSlashesFor(config::EscapedSlashes e);

// Why a target with this verdict is refused (400), for logs and the error body.
const char* refusedTargetReason(http::TargetVerdict v);

// The path routes match for `target` ("/a/../b?q"): its normal form (query kept), the path
// the client would be redirected to (unescape_and_redirect), or an error saying that such a
// request is refused with 400 and why.
core::Result<std::string> routedPath(std::string_view target, config::EscapedSlashes e);

}  // namespace meridian::proxy
