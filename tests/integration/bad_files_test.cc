// Files a config names that are not regular files (a FIFO, /dev/zero) or are missing:
// `validate`, `run` and a reload refuse them at once, at the config line that names them, and
// the admin listener keeps answering. They used to be read forever (/dev/zero) or to block the
// reader for good (a FIFO), on the admin thread when it was a reload.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "tests/fakes/tls_tools.h"
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

class BadFilesTest : public ProxyTest {
 protected:
  std::string makeFifo(const std::string& name) {
    std::string path = proxy_.dir() + "/" + name;
    EXPECT_EQ(mkfifo(path.c_str(), 0600), 0) << path;
    return path;
  }
  std::string devCerts() {
    std::string dir = proxy_.dir() + "/dev";
    auto r = fakes::certsDev("localhost", dir, false);
    EXPECT_EQ(r.exitCode, 0) << r.describe();
    return dir;
  }
  // A TLS listener serving `cert` and `key`.
  std::string tlsYaml(const std::string& cert, const std::string& key) const {
    return configYamlWith("  - name: public\n    address: 127.0.0.1:0\n    region: ams\n"
                          "    tls:\n      certificates:\n        - { cert: " +
                          cert + ", key: " + key + " }\n");
  }
  static std::string withGeo(const std::string& yaml, const std::string& database) {
    return yaml + "geo: { database: " + database + " }\n";
  }
  // "FILE:LINE:COL: " of the first `needle` in `yaml` (as written to FILE).
  static std::string at(const std::string& file, const std::string& yaml,
                        const std::string& needle) {
    size_t pos = yaml.find(needle);
    EXPECT_NE(pos, std::string::npos) << needle;
    size_t line_start = yaml.rfind('\n', pos);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    int line = 1;
    for (size_t i = 0; i < pos; ++i) line += yaml[i] == '\n';
    return file + ":" + std::to_string(line) + ":" + std::to_string(pos - line_start + 1) + ": ";
  }
  fakes::CommandResult meridian(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {fakes::meridianBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return fakes::runCommand(argv, milliseconds(10000));
  }
  std::pair<int, std::string> postReload() {
    auto r = proxy_.reload();
    return {r.status, r.body};
  }
  std::string healthz() {
    return curl({proxy_.adminUrl("/healthz")}).out;
  }
};

TEST_F(BadFilesTest, ValidateRefusesAConfigThatIsAFifoOrADevice) {
  std::string fifo = makeFifo("fifo.yaml");
  for (const std::string& path : {fifo, std::string("/dev/zero")}) {
    auto r = meridian({"validate", "-c", path});
    EXPECT_FALSE(r.timedOut) << path;
    EXPECT_EQ(r.exitCode, 1) << r.describe();
    std::string kind = path == fifo ? "a FIFO" : "a character device";
    EXPECT_EQ(r.out, path + ":0:0: not a regular file (" + kind + ")\n");
  }
}

// Each certificate or key problem is reported at the config line that names the file.
TEST_F(BadFilesTest, ValidateRefusesCertificateAndKeyFilesThatAreNotRegularOrMissing) {
  std::string dir = devCerts();
  std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  std::string fifo = makeFifo("fifo.key");
  std::string missing = dir + "/missing.key";
  struct Case {
    std::string cert, key, named, why;
  };
  const Case cases[] = {
      {"/dev/zero", key, "/dev/zero", "not a regular file (a character device)"},
      {cert, "/dev/zero", "/dev/zero", "not a regular file (a character device)"},
      {cert, fifo, fifo, "not a regular file (a FIFO)"},
      {cert, missing, missing, "cannot read: No such file or directory"},
  };
  for (const auto& c : cases) {
    std::string yaml = tlsYaml(c.cert, c.key);
    std::string path = proxy_.writeFile("config.yaml", yaml);
    auto r = meridian({"validate", "-c", path});
    EXPECT_FALSE(r.timedOut) << c.named;
    EXPECT_EQ(r.exitCode, 1) << r.describe();
    std::string value = c.named + (c.named == c.cert ? "," : " }");
    EXPECT_EQ(r.out, at(path, yaml, value) + "listener public: " + c.named + ": " + c.why + "\n");
  }
}

TEST_F(BadFilesTest, RunRefusesAGeoDatabaseThatIsAFifo) {
  std::string fifo = makeFifo("geo.mmdb");
  std::string yaml = withGeo(configYaml(), fifo);
  std::string path = proxy_.writeFile("config.yaml", yaml);
  auto r = meridian({"run", "-c", path});
  EXPECT_FALSE(r.timedOut);
  EXPECT_EQ(r.exitCode, 1) << r.describe();
  EXPECT_NE(r.err.find(at(path, yaml, fifo) + "geo database " + fifo +
                       ": not a regular file (a FIFO)"),
            std::string::npos)
      << r.err;
}

// Each reload fails at once with its reason, /healthz keeps answering, and SIGTERM still
// stops the process. (The FIFOs come first: before the fix they blocked the admin thread.)
TEST_F(BadFilesTest, ReloadRefusesFifosAndDevicesAndTheAdminKeepsAnswering) {
  std::string dir = devCerts();
  std::string good = tlsYaml(dir + "/cert.pem", dir + "/key.pem");
  ASSERT_TRUE(proxy_.start(good));
  std::string config = proxy_.configPath();

  ASSERT_EQ(::unlink(config.c_str()), 0);
  ASSERT_EQ(mkfifo(config.c_str(), 0600), 0);
  auto r = postReload();
  EXPECT_EQ(r.first, 400) << r.second;
  EXPECT_EQ(r.second, config + ":0:0: not a regular file (a FIFO)\n");
  EXPECT_EQ(healthz(), "ok\n");
  ASSERT_EQ(::unlink(config.c_str()), 0);

  std::string fifo = makeFifo("geo.mmdb");
  proxy_.rewriteConfig(withGeo(good, fifo));
  r = postReload();
  EXPECT_EQ(r.first, 400) << r.second;
  EXPECT_NE(r.second.find("geo database " + fifo + ": not a regular file (a FIFO)"),
            std::string::npos)
      << r.second;
  EXPECT_EQ(healthz(), "ok\n");

  proxy_.rewriteConfig(tlsYaml(dir + "/cert.pem", "/dev/zero"));
  r = postReload();
  EXPECT_EQ(r.first, 400) << r.second;
  EXPECT_NE(r.second.find("listener public: /dev/zero: not a regular file (a character device)"),
            std::string::npos)
      << r.second;
  EXPECT_EQ(healthz(), "ok\n");

  ASSERT_TRUE(proxy_.signal(SIGTERM));
  ASSERT_TRUE(proxy_.waitExit(kWait));
  EXPECT_EQ(proxy_.exitCode(), 0);
}

}  // namespace
}  // namespace meridian::integration
