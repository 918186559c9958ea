#pragma once
// gRPC as a proxy sees it (gRPC over HTTP/2, PROTOCOL-HTTP2.md): which requests are gRPC
// calls, their `grpc-timeout`, and the status codes by name. Here, below config and the proxy,
// because `replay.on` names codes and the Exchange reads them off responses.
#include <chrono>
#include <optional>
#include <string_view>

namespace meridian::core::grpc {

// content-type application/grpc, or application/grpc+proto, application/grpc;...
bool isGrpc(std::string_view content_type);

// A `grpc-timeout` value: 1 to 8 digits and a unit (H M S m u n). nullopt when malformed.
std::optional<std::chrono::milliseconds> parseTimeout(std::string_view value);

// Status codes 0..16 by their names in snake case ("unavailable", "resource_exhausted").
// codeByName: -1 for an unknown name; codeName: nullptr outside 0..16.
int codeByName(std::string_view name);
const char* codeName(int code);
// The code of a `grpc-status` value; -1 when it is not one.
int parseStatus(std::string_view value);

constexpr int kDeadlineExceeded = 4;
constexpr int kUnavailable = 14;

// The code a gRPC client gets for an error the proxy made, given as the HTTP status it would
// have answered (504 a timeout: DEADLINE_EXCEEDED; 502/503: UNAVAILABLE; ...).
int codeForHttpStatus(int status);

}  // namespace meridian::core::grpc
