#include "core/dns_client.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <mutex>

#include "core/address.h"

namespace meridian::core {

struct DnsClient::Channel {
  ares_channel channel = nullptr;
  ~Channel() {
    if (channel != nullptr) ares_destroy(channel);
  }
};

namespace {

void initLibrary() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

struct Pending {
  bool done = false;
  DnsAnswer answer;
};

void onAnswer(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  auto* p = static_cast<Pending*>(arg);
  p->done = true;
  if (status != ARES_SUCCESS) {
    p->answer.error = ares_strerror(status);
    if (result != nullptr) ares_freeaddrinfo(result);
    return;
  }
  int ttl = -1;
  for (ares_addrinfo_node* n = result->nodes; n != nullptr; n = n->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (n->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(n->ai_addr)->sin_addr, text, sizeof text);
    } else if (n->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(n->ai_addr)->sin6_addr, text,
                sizeof text);
    } else {
      continue;
    }
    p->answer.addresses.emplace_back(text);
    ttl = ttl < 0 ? n->ai_ttl : std::min(ttl, n->ai_ttl);
  }
  ares_freeaddrinfo(result);
  auto& a = p->answer.addresses;
  std::sort(a.begin(), a.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
  p->answer.ttl = std::chrono::seconds(std::max(ttl, 0));
  if (a.empty()) p->answer.error = "no addresses";
}

}  // namespace

Result<std::unique_ptr<DnsClient>> DnsClient::create(const std::vector<std::string>& servers) {
  initLibrary();
  std::unique_ptr<DnsClient> client(new DnsClient());
  client->channel_ = std::make_unique<Channel>();
  ares_options opts{};
  opts.timeout = 1000;  // per try, ms
  opts.tries = 2;
  int rc =
      ares_init_options(&client->channel_->channel, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (rc != ARES_SUCCESS)
    return Error{ErrorKind::ConfigInvalid, Side::Internal, false,
                 std::string("dns: cannot start the resolver: ") + ares_strerror(rc)};
  if (!servers.empty()) {
    std::string csv;
    for (const auto& s : servers) csv += (csv.empty() ? "" : ",") + s;
    rc = ares_set_servers_ports_csv(client->channel_->channel, csv.c_str());
    if (rc != ARES_SUCCESS)
      return Error{ErrorKind::ConfigInvalid, Side::Internal, false,
                   "dns.servers: " + csv + ": " + ares_strerror(rc)};
  }
  return client;
}

DnsClient::~DnsClient() = default;

DnsAnswer DnsClient::lookup(const std::string& host, std::chrono::milliseconds timeout) {
  if (isIpAddress(host)) return DnsAnswer{{host}, std::chrono::seconds(0), {}};
  Pending pending;
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = ARES_AI_NOSORT;
  ares_channel ch = channel_->channel;
  ares_getaddrinfo(ch, host.c_str(), nullptr, &hints, onAnswer, &pending);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pending.done) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ares_cancel(ch);  // calls onAnswer with ARES_ECANCELLED
      break;
    }
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    nfds_t n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events == 0) continue;
      fds[n++] = pollfd{socks[i], events, 0};
    }
    timeval tv_max{left.count() / 1000, static_cast<long>(left.count() % 1000) * 1000};
    timeval tv{};
    timeval* t = ares_timeout(ch, &tv_max, &tv);
    int wait_ms = static_cast<int>(t->tv_sec * 1000 + t->tv_usec / 1000);
    int ready = ::poll(fds, n, std::max(wait_ms, 1));
    if (ready <= 0) {
      ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
      continue;
    }
    for (nfds_t i = 0; i < n; ++i) {
      ares_process_fd(ch,
                      (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD,
                      (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD);
    }
  }
  if (!pending.done) pending.answer.error = "timed out";
  if (pending.answer.error == ares_strerror(ARES_ECANCELLED)) pending.answer.error = "timed out";
  return pending.answer;
}

}  // namespace meridian::core
