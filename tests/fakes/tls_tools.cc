#include "tests/fakes/tls_tools.h"

#include "tests/fakes/meridian_process.h"

namespace meridian::fakes {

CommandResult sClient(uint16_t port, const std::vector<std::string>& args, const std::string& input,
                      milliseconds timeout) {
  std::vector<std::string> argv = {"openssl", "s_client", "-connect",
                                   "127.0.0.1:" + std::to_string(port)};
  if (!input.empty()) argv.push_back("-ign_eof");
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, timeout, input);
}

std::string servedCommonName(const CommandResult& r) {
  // s_client prints "subject=O = ..., CN = name" for the leaf.
  size_t at = r.out.find("\nsubject=");
  if (at == std::string::npos) return "";
  size_t end = r.out.find('\n', at + 1);
  std::string line = r.out.substr(at + 1, end - at - 1);
  size_t cn = line.find("CN = ");
  return cn == std::string::npos ? "" : line.substr(cn + 5);
}

CommandResult certsDev(const std::string& hosts, const std::string& dir, bool rsa) {
  std::vector<std::string> argv = {meridianBinary(), "certs", "dev", "--hosts", hosts,
                                   "--out",          dir};
  if (rsa) argv.push_back("--rsa");
  return runCommand(argv, milliseconds(20000));
}

}  // namespace meridian::fakes
