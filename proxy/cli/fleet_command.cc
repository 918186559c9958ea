#include "proxy/cli/fleet_command.h"

#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <algorithm>
#include <map>

#include "config/fleet_config.h"
#include "config/units.h"
#include "core/file_read.h"
#include "fleet/etcd_client.h"
#include "fleet/fleet_agent.h"

namespace meridian::proxy {
namespace {

struct FleetFlags {
  fleet::EtcdOptions etcd;
  std::string prefix;
  std::string config;  // push
  bool force = false;
  int64_t if_revision = -1;  // push: the revision to replace; -1: the one read now
  std::string cluster, region, address;
  config::Duration ttl{10000};
};

std::vector<std::string> splitCommas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

bool parseFleetFlags(const std::vector<std::string>& args, FleetFlags& f) {
  std::string password_file;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--force") {
      f.force = true;
      continue;
    }
    if (i + 1 >= args.size()) {
      fprintf(stderr, "meridian: %s needs a value\n", a.c_str());
      return false;
    }
    const std::string& v = args[++i];
    if (a == "--etcd") {
      f.etcd.endpoints = splitCommas(v);
    } else if (a == "--prefix") {
      f.prefix = v;
    } else if (a == "-c" || a == "--config") {
      f.config = v;
    } else if (a == "--if-revision") {
      f.if_revision = std::atoll(v.c_str());
    } else if (a == "--cluster") {
      f.cluster = v;
    } else if (a == "--region") {
      f.region = v;
    } else if (a == "--address") {
      f.address = v;
    } else if (a == "--ttl") {
      auto d = config::parseDuration(v);
      if (!d || d->count() < 1000) {
        fprintf(stderr, "meridian: --ttl: expected a duration of at least 1s, got '%s'\n",
                v.c_str());
        return false;
      }
      f.ttl = *d;
    } else if (a == "--ca-file") {
      f.etcd.ca_file = v;
    } else if (a == "--cert-file") {
      f.etcd.cert_file = v;
    } else if (a == "--key-file") {
      f.etcd.key_file = v;
    } else if (a == "--user") {
      f.etcd.username = v;
    } else if (a == "--password-file") {
      password_file = v;
    } else {
      fprintf(stderr, "meridian: unexpected argument '%s'\n", a.c_str());
      return false;
    }
  }
  if (f.etcd.endpoints.empty() || f.prefix.empty() || !f.prefix.ends_with("/")) {
    fprintf(stderr, "meridian: fleet needs --etcd URL[,URL...] and --prefix P (ending in /)\n");
    return false;
  }
  if (!password_file.empty()) {
    auto pw = fleet::readPasswordFile(password_file);
    if (!pw.ok()) {
      fprintf(stderr, "meridian: %s\n", pw.error().detail.c_str());
      return false;
    }
    f.etcd.password = pw.value();
  }
  return true;
}

// Validates (the same loader as a file), then writes only if the config is still at the
// revision read: two operators pushing at once cannot overwrite each other unseen.
int push(const FleetFlags& f) {
  if (f.config.empty()) {
    fprintf(stderr, "meridian: fleet push needs -c FILE\n");
    return 2;
  }
  auto text = core::readRegularFile(f.config, core::kConfigFileLimit);
  if (!text.ok()) {
    fprintf(stderr, "meridian: %s\n", text.error().detail.c_str());
    return 1;
  }
  auto problems = config::checkFleetConfig(text.value(), f.config);
  for (const auto& d : problems) fprintf(stderr, "%s\n", d.text().c_str());
  if (!problems.empty() && !f.force) {
    fprintf(stderr,
            "meridian: not pushed: %zu problems (--force pushes it anyway; every "
            "instance will refuse it and keep its config)\n",
            problems.size());
    return 1;
  }
  fleet::EtcdClient client(f.etcd);
  fleet::FleetKeys keys{f.prefix};
  auto now = client.range(keys.config());
  if (!now.ok()) {
    fprintf(stderr, "meridian: %s\n", now.error().detail.c_str());
    return 1;
  }
  int64_t read = now.value().kvs.empty() ? 0 : now.value().kvs[0].mod_revision;
  int64_t base = f.if_revision >= 0 ? f.if_revision : read;
  if (f.force) {
    auto put = client.put(keys.config(), text.value());
    if (!put.ok()) {
      fprintf(stderr, "meridian: %s\n", put.error().detail.c_str());
      return 1;
    }
    printf("pushed %s as revision %lld (forced)\n", f.config.c_str(),
           static_cast<long long>(put.value()));
    return 0;
  }
  auto done = client.casPut(keys.config(), text.value(), base);
  if (!done.ok()) {
    fprintf(stderr, "meridian: %s\n", done.error().detail.c_str());
    return 1;
  }
  if (!done.value()) {
    auto after = client.range(keys.config());
    long long at = after.ok() && !after.value().kvs.empty() ? after.value().kvs[0].mod_revision : 0;
    // A request that timed out at one member is sent again to the next: when the first one
    // had gone through, the second finds the key moved, by our own write. The text in etcd is
    // then exactly ours: pushed.
    if (after.ok() && !after.value().kvs.empty() && after.value().kvs[0].value == text.value()) {
      printf("pushed %s as revision %lld\n", f.config.c_str(), at);
      return 0;
    }
    fprintf(stderr,
            "meridian: not pushed: the fleet config changed since revision %lld (another push "
            "made it revision %lld); look at it, then push again (or --force)\n",
            static_cast<long long>(base), at);
    return 3;
  }
  auto after = client.range(keys.config());
  long long rev = after.ok() && !after.value().kvs.empty() ? after.value().kvs[0].mod_revision : 0;
  printf("pushed %s as revision %lld\n", f.config.c_str(), rev);
  return 0;
}

std::string age(int64_t ms) {
  if (ms < 0) ms = 0;
  char buf[32];
  snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

int status(const FleetFlags& f) {
  fleet::EtcdClient client(f.etcd);
  fleet::FleetKeys keys{f.prefix};
  auto cfg = client.range(keys.config());
  auto st = client.range(keys.status(), fleet::prefixEnd(keys.status()));
  if (!cfg.ok() || !st.ok()) {
    fprintf(stderr, "meridian: %s\n", (!cfg.ok() ? cfg.error() : st.error()).detail.c_str());
    return 1;
  }
  long long rev = cfg.value().kvs.empty() ? 0 : cfg.value().kvs[0].mod_revision;
  printf("fleet config: revision %lld\n", rev);
  printf("%-24s %-10s %-9s %-8s %s\n", "INSTANCE", "REGION", "REVISION", "AGE", "ERROR");
  int64_t now = fleet::unixMillis();
  for (const auto& kv : st.value().kvs) {
    auto s = fleet::parseStatus(kv.value);
    if (!s.ok()) continue;
    const auto& v = s.value();
    std::string error = v.error;
    std::replace(error.begin(), error.end(), '\n', ' ');
    if (v.stale_since_ms > 0)
      error = "etcd unreachable since " + age(now - v.stale_since_ms) + " ago" +
              (error.empty() ? "" : "; " + error);
    printf("%-24s %-10s %-9lld %-8s %s\n", v.instance.c_str(), v.region.c_str(),
           static_cast<long long>(v.revision), age(now - v.reported_at_ms).c_str(),
           error.empty() ? "-" : error.c_str());
  }
  return 0;
}

// Keeps endpoints/<cluster>/<region>/<address> alive under a lease until SIGTERM or SIGINT,
// then revokes it: the endpoint drains from every instance at once.
int registerEndpoint(const FleetFlags& f) {
  if (f.cluster.empty() || f.region.empty() || !config::parseHostPort(f.address)) {
    fprintf(stderr, "meridian: fleet register needs --cluster C --region R --address HOST:PORT\n");
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  fleet::EtcdClient client(f.etcd);
  std::string key =
      fleet::FleetKeys{f.prefix}.endpoints() + f.cluster + "/" + f.region + "/" + f.address;
  int64_t ttl_s = f.ttl.count() / 1000;
  int64_t lease = 0;
  while (true) {
    if (lease != 0) {
      auto left = client.keepAlive(lease);
      if (!left.ok()) fprintf(stderr, "meridian: keepalive: %s\n", left.error().detail.c_str());
      if (left.ok() && left.value() <= 0) lease = 0;  // expired while etcd was away
    }
    if (lease == 0) {
      auto grant = client.grantLease(ttl_s);
      auto put = grant.ok() ? client.put(key, "{}", grant.value().id) : grant.error();
      if (grant.ok() && put.ok()) {
        lease = grant.value().id;
        printf("registered %s (lease %llx, ttl %llds)\n", key.c_str(),
               static_cast<unsigned long long>(lease), static_cast<long long>(ttl_s));
        fflush(stdout);
      } else {
        fprintf(stderr, "meridian: %s\n",
                (grant.ok() ? put.error() : grant.error()).detail.c_str());
      }
    }
    // A third of the TTL: two keepalives may fail before the key goes.
    int64_t wait_ms = lease != 0 ? std::max<int64_t>(f.ttl.count() / 3, 300) : 1000;
    timespec ts{static_cast<time_t>(wait_ms / 1000), static_cast<long>(wait_ms % 1000) * 1000000};
    if (sigtimedwait(&stop, nullptr, &ts) > 0) break;
  }
  if (lease != 0) client.revokeLease(lease);
  printf("unregistered %s\n", key.c_str());
  return 0;
}

}  // namespace

int runFleetCommand(const std::vector<std::string>& args) {
  if (args.empty()) {
    fprintf(stderr, "meridian: fleet push|status|register\n");
    return 2;
  }
  FleetFlags f;
  if (!parseFleetFlags(std::vector<std::string>(args.begin() + 1, args.end()), f)) return 2;
  if (args[0] == "push") return push(f);
  if (args[0] == "status") return status(f);
  if (args[0] == "register") return registerEndpoint(f);
  fprintf(stderr, "meridian: unknown fleet command '%s'\n", args[0].c_str());
  return 2;
}

}  // namespace meridian::proxy
