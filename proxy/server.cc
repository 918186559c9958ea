#include "proxy/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <thread>

#include "config/loader.h"
#include "core/log.h"
#include "proxy/admin.h"

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
    : opts_(std::move(opts)), cfg_(std::move(cfg)) {}

Server::~Server() {
  if (joiner_.joinable()) joiner_.join();
}

int workerCount(const config::Config& cfg) {
  if (cfg.workers > 0) return cfg.workers;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// One socket per listener per worker, all on the same port: the kernel spreads connections
// across them (SO_REUSEPORT). Port 0 is resolved by the first bind and reused for the rest.
bool Server::bindListeners(std::vector<std::vector<ListenSocket>>& per_worker) {
  int n = static_cast<int>(per_worker.size());
  for (const auto& l : cfg_->listeners) {
    config::HostPort hp = l.address;
    for (int w = 0; w < n; ++w) {
      auto fd = listenOn(hp, 4096);
      if (!fd.ok()) {
        logError("listener %s: %s", l.name.c_str(), fd.error().detail.c_str());
        return false;
      }
      if (w == 0) {
        std::string bound = localAddress(fd.value());
        hp.port = static_cast<uint16_t>(std::stoi(bound.substr(bound.rfind(':') + 1)));
        bound_.emplace_back(l.name, bound);
      }
      per_worker[static_cast<size_t>(w)].push_back(
          ListenSocket{fd.value(), l.name, l.region, l.tls.has_value()});
    }
  }
  return true;
}

int Server::run() {
  signal(SIGPIPE, SIG_IGN);
  auto snap = buildSnapshot(cfg_, generation_);
  if (!snap.ok()) {
    logError("%s", snap.error().detail.c_str());
    return 1;
  }
  snap_ = snap.value();
  monitor_ = std::make_unique<health::HealthMonitor>(
      loop_, [this](std::shared_ptr<const health::HealthSnapshot> h) { onHealth(std::move(h)); });
  monitor_->apply(cfg_);
  int n = workerCount(*cfg_);
  std::vector<std::vector<ListenSocket>> per_worker(static_cast<size_t>(n));
  if (!bindListeners(per_worker)) return 1;
  admin_ = std::make_unique<AdminServer>(*this);
  auto admin_addr = admin_->listen(cfg_->admin.address);
  if (!admin_addr.ok()) {
    logError("admin: %s", admin_addr.error().detail.c_str());
    return 1;
  }
  for (int w = 0; w < n; ++w) {
    workers_.push_back(std::make_unique<Worker>(
        w, snap_, std::move(per_worker[static_cast<size_t>(w)]), open_connections_));
    // Passive health reports hop to the main thread, where the monitor lives.
    workers_.back()->setOutcomeSink(
        [this](const std::string& cluster, const std::string& endpoint, health::Outcome o) {
          loop_.post([this, cluster, endpoint, o] {
            if (monitor_) monitor_->report(cluster, endpoint, o);
          });
        });
    workers_.back()->start();
  }
  core::SignalHandler on_term(loop_, SIGTERM, [this] { beginDrain(); });
  core::SignalHandler on_int(loop_, SIGINT, [this] { beginDrain(); });
  core::SignalHandler on_hup(loop_, SIGHUP, [this] {
    std::string err = reload();
    if (!err.empty()) logError("reload failed, old config kept:\n%s", err.c_str());
  });
  started_ = true;
  for (const auto& [name, addr] : bound_) logInfo("listener %s on %s", name.c_str(), addr.c_str());
  logInfo("admin on %s, %d workers, config generation %llu", admin_addr.value().c_str(), n,
          static_cast<unsigned long long>(generation_));
  writeReadyFile(admin_addr.value());
  admin_address_ = admin_addr.value();
  if (opts_.on_ready) opts_.on_ready(*this);
  loop_.run();
  for (auto& w : workers_) w->join();
  monitor_.reset();
  logInfo("drained, exiting");
  return 0;
}

void Server::onHealth(std::shared_ptr<const health::HealthSnapshot> health) {
  if (!snap_) return;
  snap_ = snap_->withHealth(std::move(health));
  publish();
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

void Server::beginDrain() {
  if (draining_) return;
  draining_ = true;
  logInfo("draining: finishing in-flight requests (at most %lld ms)",
          static_cast<long long>(cfg_->limits.drain_timeout.count()));
  for (auto& w : workers_) w->drain(cfg_->limits.drain_timeout);
  joiner_ = std::thread([this] {
    for (auto& w : workers_) w->join();
    loop_.stop();
  });
}

std::string Server::reload() {
  if (opts_.config_path.empty()) return "no config file to reload (built-in config)";
  config::LoadResult r = config::loadFile(opts_.config_path);
  std::string errors;
  for (const auto& d : r.diagnostics) errors += d.text() + "\n";
  if (r.ok()) {
    // Listeners are bound at start; a reload changes routes, clusters and limits.
    auto cfg = std::make_shared<const config::Config>(std::move(r.config));
    auto snap = buildSnapshot(cfg, generation_ + 1);
    if (snap.ok()) {
      cfg_ = cfg;
      snap_ = snap.value();
      ++generation_;
      ++reloads_ok_;
      // The monitor keeps the state of surviving endpoints and publishes health indexed for
      // the new config (onHealth), which sends the new snapshot to the workers.
      monitor_->apply(cfg_);
      publish();
      logInfo("config reloaded, generation %llu", static_cast<unsigned long long>(generation_));
      return "";
    }
    errors = snap.error().detail + "\n";
  }
  ++reloads_failed_;
  return errors;
}

std::string Server::metricsText() const {
  std::ostringstream out;
  std::string last_family;
  for (size_t i = 0; i < static_cast<size_t>(Counter::kCount); ++i) {
    auto c = static_cast<Counter>(i);
    uint64_t sum = 0;
    for (const auto& w : workers_) sum += w->stats().get(c);
    std::string series = counterName(c);
    std::string family = series.substr(0, series.find('{'));
    if (family != last_family) {
      out << "# HELP " << family << " " << counterHelp(c) << "\n# TYPE " << family << " counter\n";
    }
    out << series << " " << sum << "\n";
    last_family = family;
  }
  int64_t open = 0, in_flight = 0;
  for (const auto& w : workers_) {
    open += w->stats().downstream_open.load(std::memory_order_relaxed);
    in_flight += w->stats().requests_in_flight.load(std::memory_order_relaxed);
  }
  out << "# HELP meridian_downstream_connections Open client connections.\n"
         "# TYPE meridian_downstream_connections gauge\n"
         "meridian_downstream_connections "
      << open << "\n"
      << "# HELP meridian_requests_in_flight Requests being served.\n"
         "# TYPE meridian_requests_in_flight gauge\n"
         "meridian_requests_in_flight "
      << in_flight << "\n"
      << "# HELP meridian_config_generation Config generation being served.\n"
         "# TYPE meridian_config_generation gauge\n"
         "meridian_config_generation "
      << generation_ << "\n"
      << "# HELP meridian_config_reloads_total Config reloads, by result.\n"
         "# TYPE meridian_config_reloads_total counter\n"
         "meridian_config_reloads_total{result=\"ok\"} "
      << reloads_ok_
      << "\n"
         "meridian_config_reloads_total{result=\"error\"} "
      << reloads_failed_ << "\n"
      << healthGauges(*snap_);
  return out.str();
}

}  // namespace meridian::proxy
