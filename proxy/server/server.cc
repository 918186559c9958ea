#include "proxy/server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>
#include <thread>

#include "config/loader.h"
#include "core/log.h"
#include "proxy/observe/prometheus_text.h"
#include "proxy/observe/request_metrics.h"
#include "proxy/server/admin.h"
#include "proxy/server/admin_access.h"
#include "proxy/server/config_json.h"
#include "proxy/server/takeover.h"

extern char** environ;

namespace meridian::proxy {

core::Result<int> listenOn(const config::HostPort& hp, int backlog) {
  auto addr = resolveAddress(hp);
  if (!addr.ok()) return addr.error();
  const auto& a = addr.value();
  int fd = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return core::Error{core::ErrorKind::Internal, core::Side::Internal, false, strerror(errno)};
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len) < 0 ||
      ::listen(fd, backlog) < 0) {
    std::string msg = "cannot listen on " + hp.text() + ": " + strerror(errno);
    ::close(fd);
    return core::Error{core::ErrorKind::Internal, core::Side::Internal, false, msg};
  }
  return fd;
}

Server::Server(Options opts, std::shared_ptr<const config::Config> cfg)
    : opts_(std::move(opts)), cfg_(cfg), file_cfg_(std::move(cfg)) {}

Server::~Server() {
  if (joiner_.joinable()) joiner_.join();
}

int workerCount(const config::Config& cfg) {
  if (cfg.workers > 0) return cfg.workers;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ListenSocket Server::socketFor(const config::Listener& l, int fd) const {
  return ListenSocket{fd, l.name, l.region, l.tls.has_value()};
}

// One socket per worker, all on the same port: the kernel spreads connections across them
// (SO_REUSEPORT). Port 0 is resolved by the first bind and reused for the rest. Sockets
// inherited from a predecessor are used first, every one of them: a socket of the group that
// nobody accepted on would strand the connections the kernel queues on it.
core::Result<Server::BoundListener> Server::bindListener(const config::Listener& l,
                                                         std::vector<int> inherited) {
  size_t n = static_cast<size_t>(workerCount(*cfg_));
  BoundListener b{l, "", std::vector<std::vector<int>>(n)};
  for (size_t i = 0; i < inherited.size(); ++i) b.fds[i % n].push_back(inherited[i]);
  config::HostPort hp = l.address;
  if (!inherited.empty()) b.bound = localAddress(inherited.front());
  for (auto& fds : b.fds) {
    if (!fds.empty()) continue;
    if (!b.bound.empty())
      hp.port = static_cast<uint16_t>(std::stoi(b.bound.substr(b.bound.rfind(':') + 1)));
    auto fd = listenOn(hp, 4096);
    if (!fd.ok()) {
      for (auto& list : b.fds) {
        for (int f : list) ::close(f);
      }
      return core::Error{core::ErrorKind::Internal, core::Side::Internal, false,
                         "listener " + l.name + ": " + fd.error().detail};
    }
    fds.push_back(fd.value());
    if (b.bound.empty()) b.bound = localAddress(fd.value());
  }
  return b;
}

bool Server::bindListeners(HandedSockets& inherited) {
  for (const auto& l : cfg_->listeners) {
    std::vector<int> given;
    if (auto it = inherited.listeners.find(l.name); it != inherited.listeners.end()) {
      given = std::move(it->second);
      inherited.listeners.erase(it);
    }
    auto b = bindListener(l, std::move(given));
    if (!b.ok()) {
      logError("%s", b.error().detail.c_str());
      return false;
    }
    listeners_.push_back(std::move(b.value()));
  }
  // Listeners the predecessor had and this config does not: not ours to serve.
  for (auto& [name, fds] : inherited.listeners) {
    for (int fd : fds) ::close(fd);
  }
  inherited.listeners.clear();
  refreshBound();
  return true;
}

void Server::refreshBound() {
  bound_.clear();
  for (const auto& b : listeners_) bound_.emplace_back(b.cfg.name, b.bound);
}

int Server::run() {
  signal(SIGPIPE, SIG_IGN);
  std::string admin_token;
  if (!loadFirstConfig(admin_token)) return 1;
  HandedSockets inherited;
  TakeoverClient predecessor;
  if (!opts_.takeover_from.empty() && !receiveSockets(predecessor, inherited)) return 1;
  monitor_ = std::make_unique<health::HealthMonitor>(
      loop_, [this](std::shared_ptr<const health::HealthSnapshot> h) { onHealth(std::move(h)); });
  monitor_->onCheckTimed([this](const std::string& cluster, const std::string& region, double ms) {
    telemetry_->region(cluster, region)
        ->record(routing::RegionLatency::kHealthSlot, ms, core::monotonicMillis());
  });
  monitor_->apply(cfg_, snap_->upstream_tls);
  watchDnsNames();
  if (!bindListeners(inherited)) {
    if (inherited.admin_fd >= 0) ::close(inherited.admin_fd);
    return 1;
  }
  admin_ = std::make_unique<AdminServer>(*this);
  admin_->setAdminHost(cfg_->admin.address.host);
  admin_->setToken(std::move(admin_token));
  auto admin_addr = inherited.admin_fd >= 0 ? admin_->adopt(inherited.admin_fd)
                                            : admin_->listen(cfg_->admin.address);
  if (!admin_addr.ok()) {
    logError("admin: %s", admin_addr.error().detail.c_str());
    return 1;
  }
  startWorkers();
  if (!opts_.takeover_from.empty()) {
    // Every worker accepts on the shared queues now: the predecessor may stop.
    auto done = predecessor.confirmServing(core::Millis(10000));
    if (!done.ok()) logWarn("%s", done.error().detail.c_str());
  }
  core::SignalHandler on_term(loop_, SIGTERM, [this] { beginDrain(); });
  core::SignalHandler on_int(loop_, SIGINT, [this] { beginDrain(); });
  core::SignalHandler on_hup(loop_, SIGHUP, [this] { reload("SIGHUP"); });
  core::SignalHandler on_usr2(loop_, SIGUSR2, [this] { upgrade(); });
  // logrotate: the file was renamed; write to a new one at the configured path.
  core::SignalHandler on_usr1(loop_, SIGUSR1, [this] { access_log_->reopen(); });
  core::SignalHandler on_chld(loop_, SIGCHLD, [this] { reapUpgrade(); });
  loaded_ = ConfigEvent{std::chrono::system_clock::now(),
                        opts_.takeover_from.empty() ? "start" : "takeover", true, {}};
  sampleStats();
  publishLatency();
  // Before the ready file: a stored ACME certificate serves from the first handshake.
  syncAcmeClients();
  announceReady(admin_addr.value());
  if (fleet_) fleet_->start(std::move(fleet_start_));  // not needed here after
  loop_.run();
  acme_clients_.clear();
  fleet_.reset();
  sampler_.reset();
  latency_publisher_.reset();
  dns_refresher_.reset();
  for (auto& w : workers_) w->join();
  fleet_idempotency_.reset();
  monitor_.reset();
  watch_.reset();
  takeover_.reset();
  removePidFile();
  logInfo("drained, exiting");
  return 0;
}

// The snapshot of the config given at start, and the access log it names. False (logged)
// when either cannot be had.
bool Server::loadFirstConfig(std::string& admin_token) {
  if (file_cfg_->fleet.enabled() && !opts_.config_path.empty()) startFleet();
  resolveNewDnsNames(*file_cfg_);
  cfg_ = expandDnsEndpoints(*file_cfg_, dns_names_);
  auto snap = buildSnapshot(cfg_, generation_, {}, telemetry_);
  if (!snap.ok()) {
    logError("%s", snap.error().detail.c_str());
    return false;
  }
  snap_ = snap.value();
  auto token = loadAdminToken(*cfg_);
  if (!token.ok()) {
    logError("%s", token.error().detail.c_str());
    return false;
  }
  admin_token = std::move(token.value());
  std::string log_error;
  access_log_ = AccessLog::open(cfg_->access_log, &log_error);
  if (!access_log_) {
    logError("access_log: %s", log_error.c_str());
    return false;
  }
  return true;
}

// Takeover: the listening sockets of the process whose pid file is --takeover-from.
bool Server::receiveSockets(TakeoverClient& predecessor, HandedSockets& inherited) {
  auto got = predecessor.receive(opts_.takeover_from, core::Millis(10000));
  if (!got.ok()) {
    logError("%s", got.error().detail.c_str());
    return false;
  }
  inherited = std::move(got.value());
  logInfo("takeover: received the sockets of %zu listeners", inherited.listeners.size());
  return true;
}

// One worker per configured worker, each accepting on its own socket of every listener.
void Server::startWorkers() {
  int n = workerCount(*cfg_);
  for (int w = 0; w < n; ++w) {
    std::vector<ListenSocket> sockets;
    for (const auto& b : listeners_) {
      for (int fd : b.fds[static_cast<size_t>(w)]) sockets.push_back(socketFor(b.cfg, fd));
    }
    workers_.push_back(std::make_unique<Worker>(w, snap_, std::move(sockets), open_connections_));
    workers_.back()->setAccessLog(access_log_);
    workers_.back()->setSharedIdempotency(fleet_idempotency_.get());
    // Passive health reports hop to the main thread, where the monitor lives.
    workers_.back()->setOutcomeSink(
        [this](const std::string& cluster, const std::string& endpoint, health::Outcome o) {
          loop_.post([this, cluster, endpoint, o] {
            if (monitor_) monitor_->report(cluster, endpoint, o);
          });
        });
    workers_.back()->start();
  }
}

// Serving, with the signal handlers in place: the pid file (and the takeover socket beside
// it), file watches, the log lines, the ready file, on_ready.
void Server::announceReady(const std::string& admin_address) {
  if (!opts_.pid_file.empty()) {
    auto written = writePidFile(opts_.pid_file);
    if (!written.ok()) logError("%s", written.error().detail.c_str());
    startTakeoverServer();
  }
  watchFiles();
  started_ = true;
  for (const auto& [name, addr] : bound_) logInfo("listener %s on %s", name.c_str(), addr.c_str());
  logInfo("admin on %s, %zu workers, config generation %llu", admin_address.c_str(),
          workers_.size(), static_cast<unsigned long long>(generation_));
  admin_address_ = admin_address;
  writeReadyFile(admin_address_);
  if (opts_.on_ready) opts_.on_ready(*this);
}

void Server::onHealth(std::shared_ptr<const health::HealthSnapshot> health) {
  if (!snap_) return;
  snap_ = snap_->withHealth(std::move(health));
  ++state_changes_;
  publish();
  publishFleetHealth();
}

void Server::publish() {
  for (auto& w : workers_) w->publish(snap_);
}

void Server::writeReadyFile(const std::string& admin_address) {
  if (opts_.ready_file.empty()) return;
  std::ostringstream js;
  js << "{\"pid\": " << getpid() << ", \"admin\": \"" << admin_address << "\", \"listeners\": {";
  for (size_t i = 0; i < bound_.size(); ++i)
    js << (i ? ", " : "") << "\"" << bound_[i].first << "\": \"" << bound_[i].second << "\"";
  js << "}}\n";
  // Written whole under a temporary name, then renamed: a reader never sees half a file.
  std::string tmp = opts_.ready_file + ".tmp";
  FILE* f = fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    logError("ready file %s: %s", tmp.c_str(), strerror(errno));
    return;
  }
  fputs(js.str().c_str(), f);
  fclose(f);
  rename(tmp.c_str(), opts_.ready_file.c_str());
}

void Server::beginDrain(bool handoff) {
  if (draining_) return;
  draining_ = true;
  logInfo("draining: finishing in-flight requests (at most %lld ms)",
          static_cast<long long>(cfg_->limits.drain_timeout.count()));
  watch_.reset();
  core::Millis grace = handoff ? core::Millis(1000) : core::Millis(0);
  for (auto& w : workers_) w->drain(cfg_->limits.drain_timeout, grace);
  joiner_ = std::thread([this] {
    for (auto& w : workers_) w->join();
    loop_.stop();
  });
}

void Server::publishLatency() {
  telemetry_->publish(cfg_->routing, core::monotonicMillis());
  if (!latency_publisher_)
    latency_publisher_ = std::make_unique<core::Timer>(loop_, [this] { publishLatency(); });
  latency_publisher_->arm(core::Millis(250));
}

std::string Server::reload(std::string_view by) {
  if (opts_.config_path.empty()) return "no config file to reload (built-in config)";
  if (draining_) return "draining: reload ignored";
  if (fleet_) {
    // The local file again, with the fleet config and endpoints in force.
    auto composed = composeFleet(fleet_config_, fleet_revision_, fleet_endpoints_);
    if (!composed.ok()) return reloadFailed(by, composed.error().detail);
    resolveNewDnsNames(*composed.value());
    return applyConfig(std::move(composed.value()), by);
  }
  config::LoadResult r = config::loadFile(opts_.config_path);
  if (r.ok()) {
    auto file = std::make_shared<const config::Config>(std::move(r.config));
    resolveNewDnsNames(*file);
    return applyConfig(std::move(file), by);
  }
  std::string errors;
  for (const auto& d : r.diagnostics) errors += d.text() + "\n";
  return reloadFailed(by, errors);
}

std::string Server::applyConfig(std::shared_ptr<const config::Config> file, std::string_view by) {
  std::string errors;
  auto cfg = expandDnsEndpoints(*file, dns_names_);
  {
    // Overrides of regions the new config no longer names are dropped.
    routing::DrainOverrides drain = drain_overrides_;
    std::erase_if(drain, [&](const auto& o) {
      const config::Region* r = cfg->findRegion(o.first);
      return r == nullptr || r->drain == o.second;
    });
    auto snap = buildSnapshot(cfg, generation_ + 1, drain, telemetry_);
    if (!snap.ok()) errors = snap.error().detail + "\n";
    // The token file is read again: a reload is how a changed token takes effect.
    auto token = loadAdminToken(*cfg);
    if (snap.ok() && !token.ok()) errors = token.error().detail + "\n";
    // A new access_log target is opened before anything changes (and dropped if the reload
    // fails); the same target keeps its writer.
    std::shared_ptr<AccessLog> new_log;
    if (snap.ok() && errors.empty() && cfg->access_log != cfg_->access_log) {
      std::string log_error;
      new_log = AccessLog::open(cfg->access_log, &log_error);
      if (!new_log) errors = "access_log: " + log_error + "\n";
    }
    // Listeners last: the one step that changes the world outside, done once all else passed.
    if (snap.ok() && errors.empty()) errors = applyListeners(*cfg);
    if (snap.ok() && errors.empty()) {
      cfg_ = cfg;
      file_cfg_ = std::move(file);
      snap_ = snap.value();
      drain_overrides_ = std::move(drain);
      loaded_ = ConfigEvent{std::chrono::system_clock::now(), std::string(by), true, {}};
      last_reload_ = loaded_;
      ++state_changes_;
      admin_->setToken(std::move(token.value()));
      if (new_log) {
        access_log_ = new_log;
        for (auto& w : workers_) w->setAccessLog(new_log);
      }
      ++generation_;
      ++reloads_ok_;
      // The monitor keeps the state of surviving endpoints and publishes health indexed for
      // the new config (onHealth), which sends the new snapshot to the workers.
      monitor_->apply(cfg_, snap_->upstream_tls);
      syncAcmeClients();
      publish();
      watchFiles();
      watchDnsNames();
      writeReadyFile(admin_address_);
      logInfo("%s, generation %llu", by == "dns" ? "dns answer applied" : "config reloaded",
              static_cast<unsigned long long>(generation_));
      return "";
    }
  }
  return reloadFailed(by, errors);
}

std::string Server::reloadFailed(std::string_view by, const std::string& errors) {
  ++reloads_failed_;
  last_reload_ = ConfigEvent{std::chrono::system_clock::now(), std::string(by), false, errors};
  ++state_changes_;
  // The files may have been replaced (a swapped symlink): watch what they are now.
  watchFiles();
  logError("reload failed, old config kept (generation %llu):\n%s",
           static_cast<unsigned long long>(generation_), errors.c_str());
  return errors;
}

void Server::resolveNewDnsNames(const config::Config& file) {
  std::unique_ptr<core::DnsClient> client;
  for (const auto& [host, refresh] : dnsNamesOf(file)) {
    if (dns_names_.contains(host)) continue;
    if (!client) {
      auto made = core::DnsClient::create(file.dns.servers);
      if (!made.ok()) {
        logError("%s", made.error().detail.c_str());
        return;
      }
      client = std::move(made.value());
    }
    DnsName& name = dns_names_[host];
    recordAnswer(name, client->lookup(host, std::chrono::milliseconds(3000)));
    if (!name.last_error.empty())
      logWarn("dns: %s: %s (retried in the background)", host.c_str(), name.last_error.c_str());
  }
}

void Server::watchDnsNames() {
  auto names = dnsNamesOf(*file_cfg_);
  if (names.empty() && !dns_refresher_) return;
  if (!dns_refresher_) {
    dns_refresher_ = std::make_unique<DnsRefresher>(
        loop_, [this](const std::string& host, const core::DnsAnswer& a) { onDnsAnswer(host, a); });
  }
  std::erase_if(dns_names_, [&](const auto& n) { return !names.contains(n.first); });
  dns_refresher_->watch(names, dns_names_, file_cfg_->dns.servers);
}

// On the main loop. A changed answer is applied like a reload of the same file; a failure
// keeps the addresses in use.
void Server::onDnsAnswer(const std::string& host, const core::DnsAnswer& answer) {
  auto it = dns_names_.find(host);
  if (it == dns_names_.end() || draining_) return;
  if (!answer.error.empty())
    logWarn("dns: %s: %s (keeping %zu addresses)", host.c_str(), answer.error.c_str(),
            it->second.addresses.size());
  if (!recordAnswer(it->second, answer)) return;
  std::string joined;
  for (const auto& a : it->second.addresses) joined += (joined.empty() ? "" : " ") + a;
  logInfo("dns: %s now %s", host.c_str(), joined.c_str());
  applyConfig(file_cfg_, "dns");
}

// Matches the new listeners to the bound ones by name: same address keeps its sockets (a
// changed region or TLS setting travels on duplicates of them), a new or moved one is bound
// before anything changes, and a removed or moved one is retired by every worker, which lets
// its connections finish. Returns "" or the error that fails the reload.
std::string Server::applyListeners(const config::Config& next) {
  std::vector<BoundListener> result;
  std::vector<std::string> remove;
  std::vector<std::vector<ListenSocket>> add(workers_.size());
  auto close_new = [&result](const std::vector<BoundListener>& old) {
    for (auto& b : result) {
      bool kept = std::any_of(old.begin(), old.end(), [&b](const BoundListener& o) {
        return o.cfg.name == b.cfg.name && o.fds == b.fds;
      });
      if (kept) continue;
      for (auto& list : b.fds) {
        for (int fd : list) ::close(fd);
      }
    }
  };
  for (const auto& l : next.listeners) {
    auto old = std::find_if(listeners_.begin(), listeners_.end(),
                            [&l](const BoundListener& b) { return b.cfg.name == l.name; });
    if (old != listeners_.end() && old->cfg.address.text() == l.address.text()) {
      BoundListener kept = *old;
      kept.cfg = l;
      bool same = old->cfg.region == l.region && old->cfg.tls.has_value() == l.tls.has_value();
      if (!same) {
        for (auto& list : kept.fds) {
          for (int& fd : list) fd = ::dup(fd);
        }
      }
      result.push_back(std::move(kept));
      continue;
    }
    auto b = bindListener(l, {});
    if (!b.ok()) {
      close_new(listeners_);
      return b.error().detail + "\n";
    }
    result.push_back(std::move(b.value()));
  }
  for (const auto& old : listeners_) {
    auto now = std::find_if(result.begin(), result.end(),
                            [&old](const BoundListener& b) { return b.cfg.name == old.cfg.name; });
    if (now == result.end() || now->fds != old.fds) remove.push_back(old.cfg.name);
  }
  for (const auto& b : result) {
    if (std::find(remove.begin(), remove.end(), b.cfg.name) == remove.end()) {
      auto old = std::find_if(listeners_.begin(), listeners_.end(),
                              [&b](const BoundListener& o) { return o.cfg.name == b.cfg.name; });
      if (old != listeners_.end()) continue;  // unchanged: its sockets stay where they are
    }
    for (size_t w = 0; w < workers_.size(); ++w) {
      for (int fd : b.fds[w]) add[w].push_back(socketFor(b.cfg, fd));
    }
  }
  for (size_t w = 0; w < workers_.size(); ++w) {
    if (!add[w].empty() || !remove.empty()) workers_[w]->updateListeners(std::move(add[w]), remove);
  }
  for (const auto& name : remove) logInfo("listener %s: stops accepting, draining", name.c_str());
  listeners_ = std::move(result);
  refreshBound();
  return "";
}

// The config file and every file it names; recomputed after each reload.
void Server::watchFiles() {
  if (!cfg_->watch || opts_.config_path.empty() || draining_) {
    watch_.reset();
    return;
  }
  std::vector<std::string> files = {opts_.config_path};
  for (const auto& l : cfg_->listeners) {
    if (!l.tls) continue;
    for (const auto& c : l.tls->certificates) {
      files.push_back(c.cert);
      files.push_back(c.key);
    }
  }
  for (const auto& c : cfg_->clusters) {
    if (!c.tls) continue;
    if (!c.tls->ca.empty()) files.push_back(c.tls->ca);
    if (c.tls->client_cert) {
      files.push_back(c.tls->client_cert->cert);
      files.push_back(c.tls->client_cert->key);
    }
  }
  for (const auto& db : cfg_->geo.databases) files.push_back(db.path);
  if (!cfg_->admin.token_file.empty()) files.push_back(cfg_->admin.token_file);
  if (!watch_) {
    watch_ = std::make_unique<core::FileWatch>(loop_, [this] {
      logInfo("watched file changed: reloading");
      reload("file change");
    });
  }
  auto ok = watch_->setFiles(files);
  if (!ok.ok()) logWarn("watch: %s", ok.error().detail.c_str());
}

bool Server::startTakeoverServer() {
  takeover_ = std::make_unique<TakeoverServer>(
      loop_, takeoverSocketPath(opts_.pid_file),
      [this] {
        HandedSockets s;
        for (const auto& b : listeners_) {
          auto& list = s.listeners[b.cfg.name];
          for (const auto& fds : b.fds) list.insert(list.end(), fds.begin(), fds.end());
        }
        s.admin_fd = admin_ ? admin_->fd() : -1;
        return s;
      },
      [this] { onHandedOver(); });
  auto ok = takeover_->listen();
  if (!ok.ok()) {
    logError("%s", ok.error().detail.c_str());
    takeover_.reset();
    return false;
  }
  return true;
}

void Server::onHandedOver() {
  handed_over_ = true;
  if (admin_) admin_->stopAccepting();
  beginDrain(/*handoff=*/true);
}

bool Server::upgrade() {
  if (opts_.pid_file.empty() || opts_.argv.empty()) {
    logError("upgrade: needs --pid-file (the successor finds this process through it)");
    return false;
  }
  if (upgrade_child_ > 0 || draining_) {
    logWarn("upgrade: already in progress");
    return false;
  }
  // The binary now installed at this one's path: after an upgrade on disk /proc/self/exe
  // names the old, deleted file.
  char exe[4096];
  ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string path = len > 0 ? std::string(exe, static_cast<size_t>(len)) : opts_.argv[0];
  const std::string deleted = " (deleted)";
  if (path.size() > deleted.size() && path.ends_with(deleted))
    path.resize(path.size() - deleted.size());
  std::vector<std::string> args;
  for (size_t i = 0; i < opts_.argv.size(); ++i) {
    if (opts_.argv[i] == "--takeover" && i + 1 < opts_.argv.size()) {
      ++i;
      continue;
    }
    args.push_back(opts_.argv[i]);
  }
  args.insert(args.end(), {"--takeover", opts_.pid_file});
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path.c_str(), nullptr, nullptr, cargs.data(), environ);
  if (rc != 0) {
    logError("upgrade: cannot start %s: %s", path.c_str(), strerror(rc));
    return false;
  }
  upgrade_child_ = pid;
  logInfo("upgrade: started %s (pid %d), handing over the listening sockets", path.c_str(),
          static_cast<int>(pid));
  return true;
}

void Server::reapUpgrade() {
  if (upgrade_child_ <= 0) return;
  int status = 0;
  if (waitpid(upgrade_child_, &status, WNOHANG) != upgrade_child_) return;
  upgrade_child_ = -1;
  if (!handed_over_)
    logError("upgrade: the new process exited (status %d) before taking over; still serving",
             status);
}

void Server::removePidFile() {
  if (opts_.pid_file.empty() || handed_over_) return;
  FILE* f = fopen(opts_.pid_file.c_str(), "r");
  if (f == nullptr) return;
  int pid = 0;
  bool ours = fscanf(f, "%d", &pid) == 1 && pid == getpid();
  fclose(f);
  if (ours) ::unlink(opts_.pid_file.c_str());
}

std::string Server::configJson() const {
  return proxy::configJson(*cfg_, generation_);
}

std::string Server::metricsText() const {
  std::string out;
  out.reserve(16384);
  std::string_view last_family;
  for (size_t i = 0; i < static_cast<size_t>(Counter::kCount); ++i) {
    auto c = static_cast<Counter>(i);
    uint64_t sum = 0;
    for (const auto& w : workers_) sum += w->stats().get(c);
    std::string_view series = counterName(c);
    std::string_view family = series.substr(0, series.find('{'));
    if (family != last_family) appendFamilyHeader(out, family, counterHelp(c), "counter");
    out.append(series).append(" ").append(std::to_string(sum)).append("\n");
    last_family = family;
  }
  std::vector<const WorkerMetrics*> labelled;
  int64_t in_flight = 0;
  for (const auto& w : workers_) {
    labelled.push_back(&w->metrics());
    in_flight += w->stats().requests_in_flight.load(std::memory_order_relaxed);
  }
  renderMetrics(labelled, out);
  appendGauge(out, "meridian_requests_in_flight", "Requests being served.",
              static_cast<double>(in_flight));
  appendGauge(out, "meridian_config_generation", "Config generation being served.",
              static_cast<double>(generation_));
  appendFamilyHeader(out, "meridian_config_reloads_total", "Config reloads, by result.", "counter");
  out += "meridian_config_reloads_total{result=\"ok\"} " + std::to_string(reloads_ok_) + "\n";
  out +=
      "meridian_config_reloads_total{result=\"error\"} " + std::to_string(reloads_failed_) + "\n";
  appendFamilyHeader(out, "meridian_access_log_lines_total",
                     "Access log lines, by result (dropped: the writer fell behind).", "counter");
  out += "meridian_access_log_lines_total{result=\"written\"} " +
         std::to_string(access_log_ ? access_log_->written() : 0) + "\n";
  out += "meridian_access_log_lines_total{result=\"dropped\"} " +
         std::to_string(access_log_ ? access_log_->dropped() : 0) + "\n";
  if (admin_) admin_->appendMetrics(out);
  appendUpstreamTlsMetrics(out);
  out += healthGauges(*snap_);
  out += loadGauges(*snap_);
  out += dnsMetrics();
  out += fleetMetrics();
  out += acmeMetrics();
  return out;
}

// Per cluster with `tls:` (ever, in this process: counters outlive reloads).
void Server::appendUpstreamTlsMetrics(std::string& out) {
  auto clusters = certs::upstreamTlsCounters();
  if (clusters.empty()) return;
  appendFamilyHeader(out, "meridian_upstream_tls_handshakes_total",
                     "TLS handshakes with upstreams, by cluster, resumed or full.", "counter");
  for (const auto& [name, c] : clusters) {
    for (bool resumed : {false, true}) {
      MetricLabel labels[] = {{"cluster", name}, {"resumed", resumed ? "true" : "false"}};
      auto& n = resumed ? c->resumed_handshakes : c->full_handshakes;
      appendSample(out, "meridian_upstream_tls_handshakes_total", labels,
                   n.load(std::memory_order_relaxed));
    }
  }
  appendFamilyHeader(out, "meridian_upstream_tls_failures_total",
                     "TLS handshakes with upstreams that failed, by cluster and reason; each is "
                     "a connect failure.",
                     "counter");
  for (const auto& [name, c] : clusters) {
    for (size_t i = 0; i < static_cast<size_t>(certs::UpstreamTlsFailure::kCount); ++i) {
      MetricLabel labels[] = {
          {"cluster", name},
          {"reason", certs::upstreamTlsFailureName(static_cast<certs::UpstreamTlsFailure>(i))}};
      appendSample(out, "meridian_upstream_tls_failures_total", labels,
                   c->failures[i].load(std::memory_order_relaxed));
    }
  }
}

}  // namespace meridian::proxy
