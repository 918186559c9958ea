#pragma once
// Protocol upgrades (RFC 9110 7.8) as a proxy must treat them: an h2c upgrade is never passed
// on (RFC 9113 3.1 deprecates it, and a backend that takes it would turn the connection into
// an HTTP/2 tunnel no route or limit of ours sees), and a 101 is accepted only when it names
// protocols the client asked for.
#include <string>
#include <string_view>

namespace meridian::proxy::http1 {

// True when an Upgrade field value offers a protocol other than h2c.
bool offersUpgradeOtherThanH2c(std::string_view upgrade);
// The Upgrade field value to send upstream: its protocols but h2c, comma-separated.
std::string upgradeWithoutH2c(std::string_view upgrade);
// True when a 101's Upgrade value (`answered`) is not empty and names only protocols the
// request's Upgrade value (`requested`) offered, h2c excepted. Compared without case.
bool upgradeAnswerMatches(std::string_view requested, std::string_view answered);

}  // namespace meridian::proxy::http1
