#pragma once
// The value of a fleet-wide Idempotency-Key in etcd (docs/fleet.md): who holds the key while
// its request is in flight, then the finished response for the key's lifetime, or a marker
// that the request finished with a response too large to keep. JSON, with the body in base64
// (a body is bytes; JSON strings are UTF-8).
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace meridian::fleet {

// A finished response as waiters are answered with it.
struct IdemResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // end-to-end headers only
  std::string body;
};

struct IdemRecord {
  enum class State {
    InFlight,    // `owner` runs the request
    Done,        // finished: `response` answers every later request with the key
    DoneNotKept  // finished with a response too large to keep: waiters get 409
  };
  State state = State::InFlight;
  std::string owner;                             // the instance that ran (runs) the request
  std::shared_ptr<const IdemResponse> response;  // Done only
};

std::string encodeRecord(const IdemRecord& r);
// nullopt for a value that is not a record (another writer's, or a newer version's).
std::optional<IdemRecord> decodeRecord(std::string_view value);

}  // namespace meridian::fleet
