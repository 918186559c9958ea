#include "core/error.h"

namespace meridian::core {

int toHttpStatus(const Error& e) {
  switch (e.kind) {
    case ErrorKind::ProtocolError:
      return e.side == Side::Downstream ? 400 : 502;
    case ErrorKind::ReadTimeout:
      return e.side == Side::Downstream ? 408 : 504;
    case ErrorKind::HeaderTooLarge:
      return e.side == Side::Downstream ? 431 : 502;
    case ErrorKind::BodyTooLarge:
      return e.side == Side::Downstream ? 413 : 502;
    case ErrorKind::ConnectRefused:
    case ErrorKind::TlsHandshake:
    case ErrorKind::UpstreamReset:
      return 502;
    case ErrorKind::ConnectTimeout:
    case ErrorKind::RequestTimeout:
      return 504;
    case ErrorKind::UpstreamOverloaded:
    case ErrorKind::AtCapacity:
    case ErrorKind::NoHealthyRegion:
      return 503;
    case ErrorKind::ClientTimeout:
      return 408;
    case ErrorKind::NoRoute:
      return 404;
    case ErrorKind::ReplayLoop:
      return 508;
    case ErrorKind::ReplayRefused:
      return 502;
    case ErrorKind::ReplayTargetUnavailable:
      return 503;
    case ErrorKind::IdempotencyConflict:
      return 409;
    case ErrorKind::BadPath:
      return 400;
    case ErrorKind::ConfigInvalid:
    case ErrorKind::Internal:
      return 500;
  }
  return 500;
}

const char* errorCode(const Error& e) {
  switch (e.kind) {
    case ErrorKind::ConnectRefused:
      return "upstream_connect_failed";
    case ErrorKind::ConnectTimeout:
      return "upstream_connect_timeout";
    case ErrorKind::TlsHandshake:
      return "upstream_tls_failed";
    case ErrorKind::ReadTimeout:
      return e.side == Side::Downstream ? "request_header_timeout" : "upstream_timeout";
    case ErrorKind::ProtocolError:
      return e.side == Side::Downstream ? "bad_request" : "upstream_protocol_error";
    case ErrorKind::HeaderTooLarge:
      return e.side == Side::Downstream ? "header_too_large" : "upstream_header_too_large";
    case ErrorKind::BodyTooLarge:
      return "body_too_large";
    case ErrorKind::UpstreamReset:
      return "upstream_reset";
    case ErrorKind::UpstreamOverloaded:
      return "upstream_overloaded";
    case ErrorKind::AtCapacity:
      return "at_capacity";
    case ErrorKind::NoRoute:
      return "no_route";
    case ErrorKind::NoHealthyRegion:
      return "no_healthy_region";
    case ErrorKind::RequestTimeout:
      return "request_timeout";
    case ErrorKind::ClientTimeout:
      return "client_timeout";
    case ErrorKind::ReplayLoop:
      return "replay_loop";
    case ErrorKind::ReplayRefused:
      return "replay_refused";
    case ErrorKind::ReplayTargetUnavailable:
      return "replay_target_unavailable";
    case ErrorKind::IdempotencyConflict:
      return "idempotency_conflict";
    case ErrorKind::BadPath:
      return "bad_path";
    case ErrorKind::ConfigInvalid:
      return "config_invalid";
    case ErrorKind::Internal:
      return "internal";
  }
  return "internal";
}

const char* kindName(ErrorKind k) {
  return errorCode(Error{k, Side::Upstream, false, {}});
}

}  // namespace meridian::core
