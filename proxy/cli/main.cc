// meridian: the command line. Each command is a function; main() only dispatches.
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

#include "certs/tls_info.h"
#include "config/loader.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "proxy/cli/certs_command.h"
#include "proxy/cli/demo.h"
#include "proxy/cli/fleet_command.h"
#include "proxy/policy/snapshot.h"
#include "proxy/server/admin_access.h"
#include "proxy/server/server.h"
#include "proxy/policy/request_target.h"
#include "routing/explain.h"

#ifndef MERIDIAN_YAML_CPP_VERSION
#define MERIDIAN_YAML_CPP_VERSION "unknown"
#endif
#ifndef MERIDIAN_VERSION
#define MERIDIAN_VERSION "dev"
#endif

namespace {

using meridian::config::loadFile;
using meridian::config::LoadResult;

void usage(FILE* out) {
  fputs(
      "usage:\n"
      "  meridian run -c FILE [--ready-file PATH]   serve; SIGTERM/SIGINT drain, SIGHUP reloads\n"
      "      [--pid-file PATH] [--takeover PIDFILE] SIGUSR2 upgrades: a new process takes over\n"
      "  meridian validate -c FILE                  check a config: `ok`, or FILE:LINE:COL: "
      "errors\n"
      "  meridian route explain -c FILE --client-ip IP [--host H] [--path P] [--method M]\n"
      "                                             where a request would go and why (JSON)\n"
      "  meridian certs dev --hosts H1,H2 --out DIR [--rsa]\n"
      "                                             a development CA and certificate\n"
      "  meridian certs status -c FILE              each ACME name: expiry, last order\n"
      "  meridian fleet push -c FILE --etcd URL[,URL...] --prefix P [--force] [--if-revision N]\n"
      "                                             validate a fleet config and write it to etcd\n"
      "  meridian fleet status --etcd URL[,...] --prefix P\n"
      "                                             each instance: region, revision, error, age\n"
      "  meridian fleet register --etcd URL[,...] --prefix P --cluster C --region R\n"
      "      --address HOST:PORT [--ttl 10s]      keep an endpoint registered until SIGTERM\n"
      "  meridian demo [--ready-file PATH]          proxy + three demo regions on loopback\n"
      "  meridian version                           versions of meridian and its libraries\n",
      out);
}

// The value of the flag at args[i] (and i moved onto it), or null after saying it is missing:
// `run -c` with nothing after it needs a value; it is not an unexpected argument.
const std::string* flagValue(const std::vector<std::string>& args, size_t& i) {
  if (i + 1 >= args.size()) {
    fprintf(stderr, "meridian: %s needs a value\n", args[i].c_str());
    return nullptr;
  }
  return &args[++i];
}

// Finds `-c FILE` / `--config FILE` and `--ready-file PATH` in args; false on anything unknown.
bool parseFlags(const std::vector<std::string>& args, std::string& config, std::string& ready) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string* out = a == "-c" || a == "--config" ? &config
                       : a == "--ready-file"        ? &ready
                                                    : nullptr;
    if (out == nullptr) {
      fprintf(stderr, "meridian: unexpected argument '%s'\n", a.c_str());
      return false;
    }
    const std::string* v = flagValue(args, i);
    if (v == nullptr) return false;
    *out = *v;
  }
  if (config.empty()) fprintf(stderr, "meridian: -c FILE is required\n");
  return !config.empty();
}

void printDiagnostics(const LoadResult& r) {
  for (const auto& d : r.diagnostics) fprintf(stderr, "%s\n", d.text().c_str());
}

int cmdValidate(const std::vector<std::string>& args) {
  std::string config, ready;
  if (!parseFlags(args, config, ready)) return 2;
  LoadResult r = loadFile(config);
  if (!r.ok()) {
    for (const auto& d : r.diagnostics) printf("%s\n", d.text().c_str());
    return 1;
  }
  // Certificates are checked as `run` would load them: readable, matching their keys, valid.
  auto tls = meridian::proxy::buildTlsContexts(r.config);
  if (!tls.ok()) {
    printf("%s\n", tls.error().detail.c_str());
    return 1;
  }
  auto upstream_tls = meridian::proxy::buildUpstreamTlsContexts(r.config);
  if (!upstream_tls.ok()) {
    printf("%s\n", upstream_tls.error().detail.c_str());
    return 1;
  }
  // The admin token file as `run` and every reload read it.
  auto token = meridian::proxy::loadAdminToken(r.config);
  if (!token.ok()) {
    printf("%s\n", token.error().detail.c_str());
    return 1;
  }
  printf("ok\n");
  return 0;
}

int cmdRun(const std::vector<std::string>& args) {
  std::string config, ready, pid_file, takeover;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string* out = args[i] == "--pid-file"   ? &pid_file
                       : args[i] == "--takeover" ? &takeover
                                                 : nullptr;
    if (out == nullptr) {
      rest.push_back(args[i]);
      continue;
    }
    const std::string* v = flagValue(args, i);
    if (v == nullptr) return 2;
    *out = *v;
  }
  if (!parseFlags(rest, config, ready)) return 2;
  LoadResult r = loadFile(config);
  if (!r.ok()) {
    printDiagnostics(r);
    return 1;
  }
  meridian::proxy::Server::Options opts;
  opts.config_path = config;
  opts.ready_file = ready;
  opts.pid_file = pid_file;
  opts.takeover_from = takeover;
  opts.argv = {"meridian", "run"};
  opts.argv.insert(opts.argv.end(), args.begin(), args.end());
  meridian::proxy::Server server(
      opts, std::make_shared<const meridian::config::Config>(std::move(r.config)));
  return server.run();
}

// Explains on the config as written: health is what the config assumes before any check ran
// (GET /explain on a running proxy shows live health).
int cmdRouteExplain(const std::vector<std::string>& args) {
  std::string config;
  meridian::routing::ExplainInput in;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) {
      fprintf(stderr, "meridian: %s needs a value\n", a.c_str());
      return 2;
    }
    const std::string& v = args[++i];
    if (a == "-c" || a == "--config")
      config = v;
    else if (a == "--client-ip")
      in.client_ip = v;
    else if (a == "--host")
      in.host = v;
    else if (a == "--path")
      in.path = v;
    else if (a == "--method")
      in.method = v;
    else if (a == "--prefer-region")
      in.prefer_region = v;
    else {
      fprintf(stderr, "meridian: unexpected argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (config.empty() || in.client_ip.empty()) {
    fprintf(stderr, "meridian: route explain needs -c FILE and --client-ip IP\n");
    return 2;
  }
  LoadResult r = loadFile(config);
  if (!r.ok()) {
    printDiagnostics(r);
    return 1;
  }
  auto cfg = std::make_shared<const meridian::config::Config>(std::move(r.config));
  auto snap = meridian::proxy::buildSnapshot(cfg, 1);
  if (!snap.ok()) {
    fprintf(stderr, "%s\n", snap.error().detail.c_str());
    return 1;
  }
  const auto& s = *snap.value();
  if (!cfg->listeners.empty()) in.listener_region = cfg->listeners.front().region;
  // Routed by the path a real request would be: normalised as the proxy does.
  auto routed = meridian::proxy::routedPath(in.path, cfg->limits.escaped_slashes);
  if (!routed.ok()) {
    fprintf(stderr, "meridian: %s\n", routed.error().detail.c_str());
    return 1;
  }
  in.path = routed.value();
  auto json = meridian::routing::explainJson(*s.router, *s.health, *s.geo, in);
  if (!json.ok()) {
    fprintf(stderr, "meridian: %s\n", json.error().detail.c_str());
    return 1;
  }
  fputs(json.value().c_str(), stdout);
  return 0;
}

int cmdVersion() {
  printf("meridian %s\n", MERIDIAN_VERSION);
  printf("libevent %s\n", meridian::core::libeventVersion());
  printf("nghttp2 %s\n", nghttp2_version(0)->version_str);
  printf("%s\n", meridian::certs::tlsLibraryVersion().c_str());
  printf("yaml-cpp %s\n", MERIDIAN_YAML_CPP_VERSION);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "run") return cmdRun(args);
  if (cmd == "validate") return cmdValidate(args);
  if (cmd == "demo") return meridian::proxy::runDemo(args);
  if (cmd == "certs") return meridian::proxy::runCertsCommand(args);
  if (cmd == "fleet") return meridian::proxy::runFleetCommand(args);
  if (cmd == "route" && !args.empty() && args[0] == "explain")
    return cmdRouteExplain(std::vector<std::string>(args.begin() + 1, args.end()));
  if (cmd == "version" || cmd == "--version") return cmdVersion();
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "meridian: unknown command '%s'\n", cmd.c_str());
  usage(stderr);
  return 2;
}
