#pragma once
// `meridian demo [--ready-file PATH]`: three tiny HTTP servers ("regions", each answering with
// its name; iad is the primary that takes writes) on loopback, the proxy in front of them with
// a built-in config, plain HTTP and HTTPS (a dev certificate in a temporary directory, removed
// at exit), and curl commands to try.
#include <string>
#include <vector>

namespace meridian::proxy {

// args: what follows `demo`. Returns the exit code.
int runDemo(const std::vector<std::string>& args);

}  // namespace meridian::proxy
