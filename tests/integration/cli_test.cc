// The command line as a new user meets it: flags given without their value, and the paths
// `certs dev` prints.
#include <string>
#include <vector>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

fakes::CommandResult meridian(std::vector<std::string> args) {
  args.insert(args.begin(), fakes::meridianBinary());
  return fakes::runCommand(args, milliseconds(10000));
}

// `run -c` with nothing after it used to say "unexpected argument '-c'".
TEST(Cli, AFlagWithoutItsValueSaysItNeedsOne) {
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  const Case cases[] = {
      {{"run", "-c"}, "-c"},
      {{"validate", "--config"}, "--config"},
      {{"run", "-c", "meridian.yaml", "--ready-file"}, "--ready-file"},
      {{"run", "-c", "meridian.yaml", "--pid-file"}, "--pid-file"},
      {{"run", "--takeover"}, "--takeover"},
      {{"route", "explain", "--client-ip", "192.0.2.1", "-c"}, "-c"},
      {{"certs", "dev", "--hosts"}, "--hosts"},
      {{"certs", "dev", "--hosts", "localhost", "--out"}, "--out"},
  };
  for (const auto& c : cases) {
    auto r = meridian(c.args);
    EXPECT_EQ(r.exitCode, 2) << c.args.front() << " " << c.flag << ": " << r.describe();
    EXPECT_EQ(r.err.rfind("meridian: " + c.flag + " needs a value\n", 0), 0u)
        << c.args.front() << " " << c.flag << ": " << r.err;
  }
  auto unknown = meridian({"run", "-c", "meridian.yaml", "--bogus"});
  EXPECT_EQ(unknown.exitCode, 2);
  EXPECT_EQ(unknown.err, "meridian: unexpected argument '--bogus'\n");
}

// `--out certs/` printed certs//ca.pem.
TEST(Cli, CertsDevPrintsPathsWithOneSlash) {
  fakes::TempDir dir("cli");
  auto r = meridian({"certs", "dev", "--hosts", "localhost", "--out", dir.path() + "/certs/"});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  std::string certs = dir.path() + "/certs";
  EXPECT_NE(r.out.find("wrote a new CA: " + certs + "/ca.pem\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + certs + "/cert.pem and " + certs + "/key.pem"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(" + certs + "/ca.key signs certificates"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(certs + "//"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace meridian::integration
