#pragma once
// `meridian certs dev --hosts H1,H2 --out DIR [--rsa]`: a development CA and certificate.
// `meridian certs status -c FILE`: each ACME name's certificate expiry and last order.
#include <string>
#include <vector>

namespace meridian::proxy {

// args: what follows `certs`. Returns the exit code (0 ok, 1 failed, 2 usage).
int runCertsCommand(const std::vector<std::string>& args);

}  // namespace meridian::proxy
