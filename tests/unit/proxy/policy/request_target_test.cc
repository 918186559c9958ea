// routedPath: the path explain routes by is the one the exchange would route by.
#include "proxy/policy/request_target.h"

#include <gtest/gtest.h>

namespace meridian::proxy {
namespace {

using config::EscapedSlashes;

TEST(RoutedPath, NormalFormOrRedirectTargetOrWhyRefused) {
  EXPECT_EQ(routedPath("/a/b?q=1", EscapedSlashes::Reject).value(), "/a/b?q=1");
  EXPECT_EQ(routedPath("/public/../admin", EscapedSlashes::Reject).value(), "/admin");
  EXPECT_EQ(routedPath("/public/%2e%2e/admin?x=%2e", EscapedSlashes::Reject).value(),
            "/admin?x=%2e");
  EXPECT_EQ(routedPath("/a%2fb", EscapedSlashes::UnescapeAndRedirect).value(), "/a/b");
  EXPECT_EQ(routedPath("/a%2fb", EscapedSlashes::UnescapeAndForward).value(), "/a/b");
  EXPECT_EQ(routedPath("/a%2fb", EscapedSlashes::Keep).value(), "/a%2Fb");
  auto refused = routedPath("/a%2fb", EscapedSlashes::Reject);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().detail,
            "a request for this path is refused (400): escaped slash or backslash in path");
  EXPECT_EQ(routedPath("/a#frag", EscapedSlashes::Reject).error().detail,
            "a request for this path is refused (400): fragment in request target");
  EXPECT_EQ(routedPath("/a%zz", EscapedSlashes::Reject).error().detail,
            "a request for this path is refused (400): bad percent-encoding in path");
}

}  // namespace
}  // namespace meridian::proxy
