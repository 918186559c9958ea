#include "proxy/cli/certs_command.h"

#include <stdio.h>

#include <algorithm>
#include <ctime>

#include "acme/fleet_storage.h"
#include "acme/storage.h"
#include "certs/acme_crypto.h"
#include "certs/dev_ca.h"
#include "config/loader.h"

namespace meridian::proxy {

namespace {

constexpr char kUsage[] =
    "usage: meridian certs dev --hosts H1,H2 --out DIR [--rsa]\n"
    "  writes DIR/ca.pem and DIR/ca.key (a local CA, kept when DIR already has one),\n"
    "  DIR/cert.pem (a certificate for the hosts, then the CA) and DIR/key.pem;\n"
    "  ECDSA P-256 unless --rsa (RSA-2048)\n"
    "       meridian certs status -c FILE\n"
    "  each ACME name of the config: its certificate's expiry, the last order's result\n";

std::string utc(time_t t) {
  if (t == 0) return "-";
  char buf[32];
  struct tm tm {};
  gmtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The etcd the fleet: section names, as `meridian run` reaches it.
fleet::EtcdOptions etcdOf(const config::Fleet& f) {
  fleet::EtcdOptions o;
  o.endpoints = f.etcd;
  o.ca_file = f.ca_file;
  o.cert_file = f.cert_file;
  o.key_file = f.key_file;
  o.username = f.username;
  if (!f.password_file.empty()) {
    auto pw = fleet::readPasswordFile(f.password_file);
    if (pw.ok()) o.password = pw.value();
  }
  return o;
}

// A listener's stored certificate and last order: from its directory, or (storage: fleet)
// from the fleet's etcd; an etcd that cannot be read is the detail.
struct Stored {
  std::optional<std::pair<std::string, std::string>> certificate;
  acme::LastOrder last;
};
Stored readStored(const config::Config& c, const config::Acme& a, const std::string& listener) {
  Stored out;
  if (!a.inFleet()) {
    acme::FileStorage storage(a.storage);
    out.certificate = storage.certificate();
    out.last = storage.lastOrder();
    return out;
  }
  acme::FleetStorage::Options o;
  o.etcd = etcdOf(c.fleet);
  o.prefix = c.fleet.prefix;
  acme::FleetStorage storage(o, listener, a.directory, a.domains);
  auto cert = storage.certificate();
  auto last = cert.ok() ? storage.lastOrder() : cert.error();
  if (!last.ok()) {
    out.last.detail = last.error().detail;
    return out;
  }
  out.certificate = cert.value();
  if (last.value()) out.last = *last.value();
  return out;
}

// What the listeners' storage holds, read as the running process wrote it: it works with
// the process stopped too. Exit 1 when some name has no valid certificate.
int certsStatus(const std::vector<std::string>& args) {
  if (args.size() != 3 || (args[1] != "-c" && args[1] != "--config")) {
    fputs(kUsage, stderr);
    return 2;
  }
  auto loaded = config::loadFile(args[2]);
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) fprintf(stderr, "%s\n", d.text().c_str());
    return 1;
  }
  int rc = 0;
  time_t now = time(nullptr);
  bool any = false;
  printf("%-30s %-12s %-21s %-8s %-8s %s\n", "NAME", "LISTENER", "EXPIRES", "DAYS", "LAST",
         "DETAIL");
  for (const auto& l : loaded.config.listeners) {
    if (!l.tls || !l.tls->acme) continue;
    any = true;
    Stored from = readStored(loaded.config, *l.tls->acme, l.name);
    const auto& stored = from.certificate;
    certs::CertificateFacts facts;
    if (stored) {
      auto f = certs::certificateFacts(stored->first);
      if (f.ok()) facts = f.value();
    }
    const acme::LastOrder& last = from.last;
    std::string detail = last.detail;
    if (last.result == "failure" && last.next_attempt != 0)
      detail += " (next attempt " + utc(last.next_attempt) + ")";
    for (const auto& d : l.tls->acme->domains) {
      bool covered = std::find(facts.names.begin(), facts.names.end(), d) != facts.names.end();
      bool valid = covered && facts.not_after > now;
      if (!valid) rc = 1;
      std::string days = valid     ? std::to_string((facts.not_after - now) / 86400)
                         : covered ? "expired"
                                   : "-";
      printf("%-30s %-12s %-21s %-8s %-8s %s\n", d.c_str(), l.name.c_str(),
             covered ? utc(facts.not_after).c_str() : "none", days.c_str(),
             last.result.empty() ? "-" : last.result.c_str(), detail.c_str());
    }
  }
  if (!any) printf("(no listener has tls.acme)\n");
  return rc;
}

std::vector<std::string> splitHosts(const std::string& list) {
  std::vector<std::string> hosts;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) hosts.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return hosts;
}

void printHowTo(const certs::DevCertFiles& f, const std::vector<std::string>& hosts, bool rsa) {
  std::string names;
  for (const auto& h : hosts) names += (names.empty() ? "" : ", ") + h;
  printf("%s %s\n", f.reused_ca ? "kept the CA in" : "wrote a new CA:", f.ca_cert.c_str());
  printf("wrote %s and %s for %s (%s, valid 90 days)\n\n", f.cert.c_str(), f.key.c_str(),
         names.c_str(), rsa ? "RSA-2048" : "ECDSA P-256");
  std::string host = hosts.front();
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  printf("Serve it (config):\n");
  printf(
      "  listeners:\n"
      "    - name: public\n"
      "      address: 127.0.0.1:8443\n"
      "      tls:\n"
      "        certificates:\n"
      "          - { cert: %s, key: %s }\n\n",
      f.cert.c_str(), f.key.c_str());
  printf("Try it:\n  curl --cacert %s https://%s:8443/\n", f.ca_cert.c_str(), host.c_str());
  printf("(%s signs certificates: keep it private, and trust %s only for development)\n",
         f.ca_key.c_str(), f.ca_cert.c_str());
}

}  // namespace

int runCertsCommand(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "status") return certsStatus(args);
  if (args.empty() || args[0] != "dev") {
    fputs(kUsage, stderr);
    return 2;
  }
  std::vector<std::string> hosts;
  std::string dir;
  bool rsa = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool has_value = i + 1 < args.size();
    if ((a == "--hosts" || a == "--out") && !has_value) {
      fprintf(stderr, "meridian: %s needs a value\n%s", a.c_str(), kUsage);
      return 2;
    }
    if (a == "--hosts") {
      hosts = splitHosts(args[++i]);
    } else if (a == "--out") {
      dir = args[++i];
    } else if (a == "--rsa") {
      rsa = true;
    } else {
      fprintf(stderr, "meridian: unexpected argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (hosts.empty() || dir.empty()) {
    fprintf(stderr, "meridian: certs dev needs --hosts and --out\n%s", kUsage);
    return 2;
  }
  auto files =
      certs::writeDevCertificates(hosts, dir, rsa ? certs::KeyKind::Rsa : certs::KeyKind::Ecdsa);
  if (!files.ok()) {
    fprintf(stderr, "meridian: certs dev: %s\n", files.error().detail.c_str());
    return 1;
  }
  printHowTo(files.value(), hosts, rsa);
  return 0;
}

}  // namespace meridian::proxy
