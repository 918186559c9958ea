// The loader against hostile or unusual input: files that are not regular or too large,
// nesting deep enough to exhaust a recursive parser, and the newer shapes of keys (geo
// databases as a list, the positions of certificate and key paths).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "config/loader.h"
#include "core/file_read.h"
#include "tests/fakes/subprocess.h"

namespace meridian::config {
namespace {

using Lines = std::vector<std::string>;

constexpr const char* kMinimal = "listeners:\n  - address: 127.0.0.1:0\n";

Lines problems(const std::string& yaml) {
  Lines out;
  for (const auto& d : loadString(yaml, "t.yaml").diagnostics) out.push_back(d.text());
  return out;
}

TEST(LoadFileInput, AFifoOrADeviceIsRefusedNotRead) {
  fakes::TempDir dir("loader");
  std::string fifo = dir.file("config.yaml");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(loadFile(fifo).diagnostics.at(0).text(),
            fifo + ":0:0: not a regular file (a FIFO)");
  EXPECT_EQ(loadFile("/dev/zero").diagnostics.at(0).text(),
            "/dev/zero:0:0: not a regular file (a character device)");
}

TEST(LoadFileInput, ConfigOverTheSizeCapIsRefusedNamingTheCap) {
  fakes::TempDir dir("loader");
  // A valid config padded with comments to one byte over the cap.
  std::string yaml = kMinimal;
  std::string line = "# " + std::string(1000, 'x') + "\n";
  while (yaml.size() + line.size() <= core::kConfigFileLimit.max_bytes) yaml += line;
  yaml += std::string(core::kConfigFileLimit.max_bytes - yaml.size(), '#');
  ASSERT_EQ(yaml.size(), 8u << 20);
  std::string at_cap = dir.write("at_cap.yaml", yaml);
  EXPECT_TRUE(loadFile(at_cap).ok()) << loadFile(at_cap).diagnostics.at(0).text();
  std::string over = dir.write("over.yaml", yaml + "\n");
  auto r = loadFile(over);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].text(),
            over + ":0:0: too large: more than 8 MiB (the limit for a config file)");
}

// yaml-cpp stops at 2000 recursions with "bad file", placed at the end of the input for flow
// collections: the loader says where the nesting went too deep, and what.
TEST(LoadYamlInput, DeepFlowNestingIsReportedWhereItGoesTooDeep) {
  EXPECT_EQ(problems(std::string(100, '[') + std::string(100, ']')),
            Lines{"t.yaml:1:65: YAML nested too deeply: more than 64 levels of lists and maps"});
  // Unclosed, each `[` may still be the key of a map (`[a]: b`): two levels per bracket.
  EXPECT_EQ(problems(std::string(100000, '[')),
            Lines{"t.yaml:1:33: YAML nested too deeply: more than 64 levels of lists and maps"});
  EXPECT_EQ(problems("workers: 1\nroutes: " + std::string(3000, '{')),
            Lines{"t.yaml:2:72: YAML nested too deeply: more than 64 levels of lists and maps"});
}

TEST(LoadYamlInput, DeepBlockNestingIsReportedWhereItGoesTooDeep) {
  std::string yaml;
  for (int i = 0; i < 3000; ++i) yaml += std::string(static_cast<size_t>(i), ' ') + "a:\n";
  EXPECT_EQ(problems(yaml),
            Lines{"t.yaml:65:65: YAML nested too deeply: more than 64 levels of lists and maps"});
}

TEST(LoadYamlInput, NestingUpToTheLimitIsOnlyASchemaMatter) {
  std::string yaml = std::string(kMinimal) + "x: " + std::string(63, '[') + std::string(63, ']');
  EXPECT_EQ(problems(yaml), Lines{"t.yaml:3:1: unknown key \"x\""});
}

// Peak RSS of this process over `fn`, in KiB, from /proc/self/status after resetting the
// high-water mark (clear_refs 5); -1 when the kernel does not allow it.
template <typename Fn>
long peakGrowthKiB(Fn fn) {
  auto field = [](const char* name) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind(name, 0) == 0) return std::stol(line.substr(std::strlen(name)));
    return -1L;
  };
  std::ofstream("/proc/self/clear_refs") << "5";
  long before = field("VmRSS:");
  if (field("VmHWM:") > before + 1024) return -1;  // the reset did not take
  fn();
  return field("VmHWM:") - before;
}

// A config with 20,000 regions and as many endpoints (1.9 MB) used to peak at 6.5 KiB per
// region and endpoint: YAML::Load's node graph, and a second parse for a second document.
TEST(LoadCost, TwentyThousandRegionsLoadInBoundedMemory) {
#ifdef MERIDIAN_SANITIZED
  GTEST_SKIP() << "sanitizer runtimes keep freed memory in quarantine";
#endif
  constexpr int kRegions = 20000;
  std::string yaml = "listeners:\n  - { address: 127.0.0.1:0, region: r0 }\nregions:\n";
  for (int i = 0; i < kRegions; ++i)
    yaml += "  - { name: r" + std::to_string(i) + ", lat: " + std::to_string(i % 179 - 89) +
            ".5, lon: " + std::to_string(i % 359 - 179) + ".5 }\n";
  yaml += "clusters:\n  - name: web\n    endpoints:\n";
  for (int i = 0; i < kRegions; ++i)
    yaml += "      - { address: 10." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
            ".1:80, region: r" + std::to_string(i) + " }\n";
  yaml += "routes:\n  - name: app\n    backends: [ { cluster: web } ]\n";
  LoadResult r;
  long growth = peakGrowthKiB([&] { r = loadString(yaml, "big.yaml"); });
  ASSERT_TRUE(r.ok()) << r.diagnostics.at(0).text();
  ASSERT_EQ(r.config.regions.size(), static_cast<size_t>(kRegions));
  ASSERT_EQ(r.config.clusters.at(0).endpoints.size(), static_cast<size_t>(kRegions));
  RecordProperty("peak_growth_kib", static_cast<int>(growth));
  if (growth < 0) GTEST_SKIP() << "cannot reset the peak RSS here";
  EXPECT_LT(growth, 3 * kRegions) << "peak grew " << growth << " KiB for " << kRegions
                                  << " regions and endpoints (limit 3 KiB per pair)";
}

TEST(LoadGeoDatabase, OnePathOrAListTriedInOrder) {
  auto one = loadString(std::string(kMinimal) + "geo: { database: a.mmdb }\n", "t.yaml");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one.config.geo.databases.size(), 1u);
  EXPECT_EQ(one.config.geo.databases[0].path, "a.mmdb");
  EXPECT_EQ(one.config.geo.databases[0].mark.line, 3);
  EXPECT_EQ(one.config.geo.databases[0].mark.col, 18);
  auto two = loadString(std::string(kMinimal) +
                            "geo:\n  database:\n    - data/v4.mmdb\n    - data/v6.mmdb\n",
                        "t.yaml");
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two.config.geo.databases.size(), 2u);
  EXPECT_EQ(two.config.geo.databases[0].path, "data/v4.mmdb");
  EXPECT_EQ(two.config.geo.databases[1].path, "data/v6.mmdb");
  EXPECT_EQ(two.config.geo.databases[1].mark.line, 6);
  EXPECT_EQ(two.config.geo.databases[1].mark.col, 7);
  EXPECT_TRUE(loadString(std::string(kMinimal) + "geo: { database: [] }\n", "t").ok());
}

TEST(LoadGeoDatabase, BadShapesAreReportedAtTheValue) {
  EXPECT_EQ(problems(std::string(kMinimal) + "geo: { database: [a.mmdb, [b], a.mmdb, ''] }\n"),
            (Lines{"t.yaml:3:27: geo.database[1]: expected a string, got a list",
                   "t.yaml:3:32: geo.database[2]: \"a.mmdb\" is listed twice",
                   "t.yaml:3:40: geo.database[3]: expected a file path, got an empty string"}));
  EXPECT_EQ(problems(std::string(kMinimal) + "geo: { database: { a: b } }\n"),
            Lines{"t.yaml:3:18: geo.database: expected a file path or a list of them, got a map"});
}

TEST(LoadTls, CertAndKeyPathsKeepTheirPositions) {
  auto r = loadString(
      "listeners:\n  - address: 127.0.0.1:0\n    tls:\n      certificates:\n"
      "        - cert: a.pem\n          key: a.key\n        - { cert: b.pem, key: b.key }\n",
      "t.yaml");
  ASSERT_TRUE(r.ok());
  const auto& certs = r.config.listeners.at(0).tls->certificates;
  ASSERT_EQ(certs.size(), 2u);
  EXPECT_EQ(certs[0].cert_mark.line, 5);
  EXPECT_EQ(certs[0].cert_mark.col, 17);
  EXPECT_EQ(certs[0].key_mark.line, 6);
  EXPECT_EQ(certs[0].key_mark.col, 16);
  EXPECT_EQ(certs[1].cert_mark.line, 7);
  EXPECT_EQ(certs[1].cert_mark.col, 19);
  EXPECT_EQ(certs[1].key_mark.col, 31);
}

// A NUL inside a value is not the end of it: an address parser reading the value as a C string
// would see "10.0.0.0" in "10.0.0.0\0/8" and silently trust more (or other) clients than
// written. Such values are refused where they are, like any other invalid one.
TEST(LoadYamlInput, NulInsideACidrOrAnAddressIsRefused) {
  std::string yaml = std::string(kMinimal) +
                     "geo:\n"
                     "  trusted_proxies: [\"10.0.0.0\\0/8\", \"fd00::\\0x/8\"]\n"
                     "admin: { address: \"[::1\\0]:9901\" }\n";
  EXPECT_EQ(problems(yaml),
            (Lines{"t.yaml:4:21: geo.trusted_proxies[0]: invalid CIDR \"10.0.0.0?/8\" (write "
                   "10.0.0.0/8, fd00::/8, or a single address)",
                   "t.yaml:4:37: geo.trusted_proxies[1]: invalid CIDR \"fd00::?x/8\" (write "
                   "10.0.0.0/8, fd00::/8, or a single address)",
                   "t.yaml:5:19: admin.address: invalid address \"[::1?]:9901\" (write host:port: "
                   "0.0.0.0:8443, [::1]:8443, app.internal:80)"}));
}

}  // namespace
}  // namespace meridian::config
