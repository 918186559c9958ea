#pragma once
// DnsClient: a blocking DNS lookup (A and AAAA) with c-ares, for a resolver thread, never an
// event loop. c-ares rather than getaddrinfo because a lookup must report the records' TTL
// (endpoints are re-resolved when it runs out) and may go to a configured server and port
// (`dns.servers`, e.g. a local resolver or a test's server on loopback).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace meridian::core {

struct DnsAnswer {
  std::vector<std::string> addresses;  // numeric, sorted, no duplicates; empty on error
  std::chrono::seconds ttl{0};         // the smallest TTL of the records
  std::string error;                   // "" on success
};

class DnsClient {
 public:
  // `servers`: "ip:port" or "ip" (port 53) each; empty: the system's (/etc/resolv.conf).
  static Result<std::unique_ptr<DnsClient>> create(const std::vector<std::string>& servers);
  ~DnsClient();
  DnsClient(const DnsClient&) = delete;
  DnsClient& operator=(const DnsClient&) = delete;

  // Resolves `host`, waiting at most `timeout`. A numeric address is its own answer.
  DnsAnswer lookup(const std::string& host, std::chrono::milliseconds timeout);

 private:
  DnsClient() = default;
  struct Channel;
  std::unique_ptr<Channel> channel_;
};

}  // namespace meridian::core
