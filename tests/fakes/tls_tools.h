// TLS clients for integration tests: `openssl s_client` and `meridian certs dev`, run as a
// user would, each with a deadline.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/fakes/subprocess.h"

namespace meridian::fakes {

// `openssl s_client -connect 127.0.0.1:PORT` plus `args`, with `input` on its stdin. With an
// input it waits (-ign_eof) until the server closes, so it sees the answer and any TLS 1.3
// session tickets; without one it ends after the handshake.
CommandResult sClient(uint16_t port, const std::vector<std::string>& args,
                      const std::string& input = {}, milliseconds timeout = milliseconds(20000));

// The subject CN of the certificate the server sent, from s_client's output ("" if none).
std::string servedCommonName(const CommandResult& r);

// `meridian certs dev --hosts HOSTS --out DIR [--rsa]` with the binary under test.
CommandResult certsDev(const std::string& hosts, const std::string& dir, bool rsa = false);

}  // namespace meridian::fakes
