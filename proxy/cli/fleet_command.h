#pragma once
// meridian fleet push | status | register (docs/fleet.md): the operator's side of a fleet,
// straight to etcd, with no running instance needed.
#include <string>
#include <vector>

namespace meridian::proxy {

int runFleetCommand(const std::vector<std::string>& args);

}  // namespace meridian::proxy
