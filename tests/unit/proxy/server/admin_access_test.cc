// Who may use the admin API: a table of request heads against the Host, Origin, header and
// token rules, and the token file's checks.
#include "proxy/server/admin_access.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "tests/fakes/subprocess.h"

namespace meridian::proxy {
namespace {

// Parses `request` (a whole head, CRLFs included) and checks it.
AdminRefusal check(const AdminAccess& access, const std::string& request) {
  http1::RequestHead head;
  http1::ParseResult r = http1::parseRequestHead(request.data(), request.size(), head);
  EXPECT_EQ(r.status, http1::ParseStatus::Complete) << request;
  std::string_view target = head.target;
  return access.check(head, target.substr(0, target.find('?')));
}

TEST(AdminHost, LoopbackNamesAddressesAndTheAdminHostOnly) {
  for (const char* ok : {"127.0.0.1:9901", "127.0.0.1", "localhost:9901", "LOCALHOST", "[::1]:9901",
                         "[::1]", "10.0.0.5:9901", "admin.internal:9901", "Admin.Internal"})
    EXPECT_TRUE(adminHostAllowed(ok, "admin.internal")) << ok;
  for (const char* bad :
       {"evil.example", "evil.example:9901", "localhost.evil.example", "127.0.0.1.nip.io:9901",
        "localhost.", "[::1", "[::1]x", "::1", "127.0.0.1:99a", "[evil.example]:1", ""})
    EXPECT_FALSE(adminHostAllowed(bad, "admin.internal")) << bad;
  EXPECT_FALSE(adminHostAllowed("admin.internal", ""));
}

TEST(AdminAccess, ForeignHostIsRefusedFirst) {
  AdminAccess access("127.0.0.1");
  EXPECT_EQ(check(access, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n\r\n"),
            AdminRefusal::None);
  // A DNS-rebinding page: its own name, pointed at 127.0.0.1.
  EXPECT_EQ(check(access, "GET /metrics HTTP/1.1\r\nHost: evil.example:9901\r\n\r\n"),
            AdminRefusal::Host);
  EXPECT_EQ(check(access,
                  "POST /drain HTTP/1.1\r\nHost: evil.example\r\nOrigin: "
                  "http://evil.example\r\nContent-Type: text/plain\r\n\r\n"),
            AdminRefusal::Host);
  // HTTP/1.0 without Host: no browser sends it.
  EXPECT_EQ(check(access, "GET /healthz HTTP/1.0\r\n\r\n"), AdminRefusal::None);
}

TEST(AdminAccess, OnlyTheAdminsOwnOrigin) {
  AdminAccess access("127.0.0.1");
  EXPECT_EQ(check(access,
                  "GET /regions HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n"
                  "Origin: http://127.0.0.1:9901\r\n\r\n"),
            AdminRefusal::None);
  for (const char* origin : {"http://evil.example", "http://127.0.0.1:3000", "null",
                             "https://127.0.0.1:9901", "http://127.0.0.1:9901/", ""}) {
    EXPECT_EQ(check(access, std::string("GET /regions HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n"
                                        "Origin: ") +
                                origin + "\r\n\r\n"),
              AdminRefusal::Origin)
        << origin;
  }
  EXPECT_EQ(check(access,
                  "GET /regions HTTP/1.1\r\nHost: 127.0.0.1:9901\r\nOrigin: "
                  "http://127.0.0.1:9901\r\nOrigin: http://evil.example\r\n\r\n"),
            AdminRefusal::Origin);
}

TEST(AdminAccess, StateChangingRequestsNeedTheAdminHeader) {
  AdminAccess access("127.0.0.1");
  // What a cross-site form or a no-cors fetch can send: refused.
  EXPECT_EQ(check(access,
                  "POST /drain HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n"
                  "Content-Type: text/plain\r\nContent-Length: 1\r\n\r\n"),
            AdminRefusal::Header);
  EXPECT_EQ(check(access,
                  "POST /reload HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n"
                  "Meridian-Admin:\r\n\r\n"),
            AdminRefusal::Header);
  EXPECT_EQ(check(access, "DELETE /drain HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n\r\n"),
            AdminRefusal::Header);
  EXPECT_EQ(check(access,
                  "POST /reload HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n"
                  "Meridian-Admin: 1\r\n\r\n"),
            AdminRefusal::None);
  // Without a token file nothing needs a token.
  EXPECT_EQ(check(access, "GET /config HTTP/1.1\r\nHost: localhost\r\n\r\n"), AdminRefusal::None);
}

TEST(AdminAccess, TokenGuardsPostsAndConfigOnly) {
  AdminAccess access("0.0.0.0");
  access.setToken("s3cret");
  const std::string post = "POST /reload HTTP/1.1\r\nHost: 10.0.0.5:9901\r\nMeridian-Admin: 1\r\n";
  EXPECT_EQ(check(access, post + "\r\n"), AdminRefusal::Token);
  EXPECT_EQ(check(access, post + "Authorization: Bearer s3cre\r\n\r\n"), AdminRefusal::Token);
  EXPECT_EQ(check(access, post + "Authorization: Bearer s3cret2\r\n\r\n"), AdminRefusal::Token);
  EXPECT_EQ(check(access, post + "Authorization: Basic s3cret\r\n\r\n"), AdminRefusal::Token);
  EXPECT_EQ(check(access, post + "Authorization: s3cret\r\n\r\n"), AdminRefusal::Token);
  EXPECT_EQ(check(access, post + "Authorization: Bearer s3cret\r\n\r\n"), AdminRefusal::None);
  EXPECT_EQ(check(access, post + "Authorization: bearer s3cret\r\n\r\n"), AdminRefusal::None);
  // The header rule still comes first: a token does not replace it.
  EXPECT_EQ(check(access,
                  "POST /drain HTTP/1.1\r\nHost: 10.0.0.5\r\n"
                  "Authorization: Bearer s3cret\r\n\r\n"),
            AdminRefusal::Header);
  EXPECT_EQ(check(access, "GET /config HTTP/1.1\r\nHost: 10.0.0.5\r\n\r\n"), AdminRefusal::Token);
  EXPECT_EQ(check(access,
                  "GET /config?x=1 HTTP/1.1\r\nHost: 10.0.0.5\r\n"
                  "Authorization: Bearer s3cret\r\n\r\n"),
            AdminRefusal::None);
  for (const char* open : {"/metrics", "/healthz", "/ready", "/regions", "/explain?client_ip=1"})
    EXPECT_EQ(check(access, std::string("GET ") + open + " HTTP/1.1\r\nHost: 10.0.0.5\r\n\r\n"),
              AdminRefusal::None)
        << open;
}

class TokenFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  core::Result<std::string> load(const std::string& path) {
    config::Config cfg;
    cfg.source_path = "m.yaml";
    cfg.admin.token_file = path;
    cfg.admin.token_file_mark = {4, 15};
    return loadAdminToken(cfg);
  }
  std::string error(const std::string& path) {
    auto r = load(path);
    return r.ok() ? "ok: " + r.value() : r.error().detail;
  }
  fakes::TempDir dir_{"admin_token"};
};

TEST_F(TokenFileTest, NoneConfiguredIsNoToken) {
  auto r = loadAdminToken(config::Config{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), "");
}

TEST_F(TokenFileTest, OneLineWithoutItsNewline) {
  EXPECT_EQ(error(write("a", "s3cret\n")), "ok: s3cret");
  EXPECT_EQ(error(write("b", "s3cret")), "ok: s3cret");
  EXPECT_EQ(error(write("c", "s3cret\r\n")), "ok: s3cret");
  EXPECT_EQ(error(write("d", std::string(kTokenFileLimit.max_bytes - 1, 'x') + "\n")),
            "ok: " + std::string(kTokenFileLimit.max_bytes - 1, 'x'));
}

TEST_F(TokenFileTest, ProblemsAreReportedAtTheKey) {
  std::string p = write("empty", "");
  EXPECT_EQ(error(p),
            "m.yaml:4:15: admin.token_file: " + p + ": empty (write the token on one line)");
  p = write("nl", "\n");
  EXPECT_EQ(error(p),
            "m.yaml:4:15: admin.token_file: " + p + ": empty (write the token on one line)");
  p = write("big", std::string(kTokenFileLimit.max_bytes + 1, 'x'));
  EXPECT_EQ(error(p), "m.yaml:4:15: admin.token_file: " + p + ": too large: more than 4 KiB (the limit for an admin token file)");
  p = write("two", "a\nb\n");
  EXPECT_EQ(error(p), "m.yaml:4:15: admin.token_file: " + p +
                          ": the token must be one line of visible ASCII, no spaces");
  p = write("space", "a b\n");
  EXPECT_NE(error(p).find("one line of visible ASCII"), std::string::npos);
  p = dir_.path() + "/missing";
  EXPECT_EQ(error(p), "m.yaml:4:15: admin.token_file: " + p + ": cannot read: No such file or directory");
  EXPECT_EQ(error(dir_.path()),
            "m.yaml:4:15: admin.token_file: " + dir_.path() + ": cannot read: Is a directory");
  p = dir_.path() + "/fifo";
  ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
  EXPECT_EQ(error(p), "m.yaml:4:15: admin.token_file: " + p + ": not a regular file (a FIFO)");
  EXPECT_EQ(error("/dev/zero"), "m.yaml:4:15: admin.token_file: /dev/zero: not a regular file (a character device)");
}

}  // namespace
}  // namespace meridian::proxy
