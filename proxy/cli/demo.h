#pragma once
// `meridian demo`: three tiny HTTP servers ("regions", each answering with its name) on
// loopback, the proxy in front of them with a built-in config, and curl commands to try.
namespace meridian::proxy {

int runDemo();

}  // namespace meridian::proxy
