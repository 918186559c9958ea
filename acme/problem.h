#pragma once
// RFC 7807 problem documents as ACME servers send them (RFC 8555, 6.7), reduced to what the
// client decides on and what an operator reads in the log.
#include <string>
#include <string_view>
#include <vector>

namespace meridian::acme {

struct Problem {
  std::string type;    // "urn:ietf:params:acme:error:badNonce"; empty: not a problem document
  std::string detail;  // the server's words
  int status = 0;
  std::vector<Problem> subproblems;  // per identifier (RFC 8555, 6.7.1)
  std::string identifier;            // of a subproblem

  bool is(std::string_view short_type) const;  // is("badNonce")
  // One line: "rateLimited (429): too many certificates; app.example: ..."
  std::string text() const;
};

// The problem in an error response's body; a body that is not one gives a Problem whose
// detail is the start of the body, so the log still says something.
Problem parseProblem(std::string_view body, int http_status);

}  // namespace meridian::acme
