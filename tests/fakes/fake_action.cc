// Action's constructors: what FakeUpstream does with one request.
#include "tests/fakes/fake_upstream.h"

namespace meridian::fakes {

Action Action::respond(int status, Headers headers, std::string body) {
  Action a;
  a.kind = Kind::Respond;
  a.status = status;
  a.headers = std::move(headers);
  a.body = std::move(body);
  return a;
}

Action Action::raw(std::string bytes) {
  Action a;
  a.kind = Kind::Raw;
  a.body = std::move(bytes);
  return a;
}

Action Action::stream(uint64_t bytes) {
  Action a;
  a.kind = Kind::Stream;
  a.streamBytes = bytes;
  return a;
}

Action Action::echo() {
  Action a;
  a.kind = Kind::Echo;
  return a;
}

Action Action::closeWithoutResponse() {
  Action a;
  a.kind = Kind::Close;
  return a;
}

Action Action::reset() {
  Action a;
  a.kind = Kind::Close;
  a.resetAfterBytes = 0;
  return a;
}

Action Action::hang() {
  Action a;
  a.kind = Kind::Hang;
  return a;
}

Action Action::webSocketEcho() {
  Action a;
  a.kind = Kind::WebSocketEcho;
  a.status = 101;
  return a;
}

}  // namespace meridian::fakes
