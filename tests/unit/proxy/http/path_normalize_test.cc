// The path normaliser: a table of targets in, the target routed and forwarded (or the refusal)
// out, for each way of treating escaped slashes.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "proxy/http/path_normalize.h"

namespace meridian::proxy::http {
namespace {

using V = TargetVerdict;
using E = EscapedSlashes;

struct Case {
  std::string_view in;
  E escaped;
  V verdict;
  std::string_view out;  // the target forwarded: `in` itself when Unchanged
};

std::string describe(const Case& c) {
  return std::string(c.in) + " (mode " + std::to_string(static_cast<int>(c.escaped)) + ")";
}

void check(const Case& c) {
  std::string out = "garbage";
  V v = normalizeTarget(c.in, c.escaped, out);
  EXPECT_EQ(static_cast<int>(v), static_cast<int>(c.verdict)) << describe(c);
  if (v == V::Unchanged) {
    EXPECT_EQ(out, "") << describe(c);
    EXPECT_EQ(c.in, c.out) << "table error: " << describe(c);
  } else if (v == V::Normalized || v == V::Redirect) {
    EXPECT_EQ(out, c.out) << describe(c);
  } else {
    EXPECT_EQ(out, "") << describe(c);
  }
}

TEST(PathNormalize, AlreadyNormalPathsAreUnchanged) {
  for (const Case& c : {
           Case{"/", E::Reject, V::Unchanged, "/"},
           Case{"/a/b/c", E::Reject, V::Unchanged, "/a/b/c"},
           Case{"/a/b/", E::Reject, V::Unchanged, "/a/b/"},
           Case{"/a//b", E::Reject, V::Unchanged, "/a//b"},  // slashes are not merged
           Case{"/.well-known/x", E::Reject, V::Unchanged, "/.well-known/x"},
           Case{"/a/.../b", E::Reject, V::Unchanged, "/a/.../b"},  // "..." is a name
           Case{"/a..b/c.", E::Reject, V::Unchanged, "/a..b/c."},
           Case{"/%20x%C3%A9", E::Reject, V::Unchanged, "/%20x%C3%A9"},
           Case{"/p?q=1&r=%2f", E::Reject, V::Unchanged, "/p?q=1&r=%2f"},
           Case{"*", E::Reject, V::Unchanged, "*"},
       })
    check(c);
}

TEST(PathNormalize, DotSegmentsAreRemoved) {
  for (const Case& c : {
           Case{"/public/../admin", E::Reject, V::Normalized, "/admin"},
           Case{"/a/./b", E::Reject, V::Normalized, "/a/b"},
           Case{"/a/b/..", E::Reject, V::Normalized, "/a/"},
           Case{"/a/b/.", E::Reject, V::Normalized, "/a/b/"},
           Case{"/a/b/../../../c", E::Reject, V::Normalized, "/c"},  // stays at the root
           Case{"/..", E::Reject, V::Normalized, "/"},
           Case{"/../..", E::Reject, V::Normalized, "/"},
           Case{"/.", E::Reject, V::Normalized, "/"},
           Case{"/./", E::Reject, V::Normalized, "/"},
           Case{"/../a", E::Reject, V::Normalized, "/a"},
           Case{"/a//../c", E::Reject, V::Normalized, "/a/c"},  // RFC 3986 5.2.4
           Case{"/a/b/../c/./d", E::Reject, V::Normalized, "/a/c/d"},
           Case{"/a/../b?x=/../y", E::Reject, V::Normalized, "/b?x=/../y"},  // query as sent
           Case{"?q", E::Reject, V::Normalized, "/?q"},
       })
    check(c);
}

TEST(PathNormalize, EncodedUnreservedAreDecodedAndOtherHexUpperCased) {
  for (const Case& c : {
           Case{"/public/%2e%2e/admin", E::Reject, V::Normalized, "/admin"},
           Case{"/public/%2E%2e/admin", E::Reject, V::Normalized, "/admin"},
           Case{"/public/.%2E/admin", E::Reject, V::Normalized, "/admin"},
           Case{"/a/%2e/b", E::Reject, V::Normalized, "/a/b"},
           Case{"/%7Euser/%41%62%63-%5f%2D%30", E::Reject, V::Normalized, "/~user/Abc-_-0"},
           Case{"/a%20b%c3%a9", E::Reject, V::Normalized, "/a%20b%C3%A9"},
           Case{"/%25%32%65", E::Reject, V::Normalized, "/%252e"},  // decoded once only
           Case{"/%3f%23?q=%2e", E::Reject, V::Normalized, "/%3F%23?q=%2e"},
       })
    check(c);
}

TEST(PathNormalize, EscapedSlashesFollowTheConfiguredAction) {
  for (const Case& c : {
           Case{"/public/..%2fadmin", E::Reject, V::EscapedSlash, ""},
           Case{"/a%2Fb", E::Reject, V::EscapedSlash, ""},
           Case{"/a%5cb", E::Reject, V::EscapedSlash, ""},
           Case{"/a\\b", E::Reject, V::EscapedSlash, ""},
           Case{"/p?path=%2f", E::Reject, V::Unchanged, "/p?path=%2f"},  // queries are not paths
           // keep: an encoded slash is part of a segment, so "..%2F" is no dot segment.
           Case{"/public/..%2fadmin", E::Keep, V::Normalized, "/public/..%2Fadmin"},
           Case{"/a%2Fb", E::Keep, V::Unchanged, "/a%2Fb"},
           Case{"/a%5cb\\c", E::Keep, V::Normalized, "/a%5Cb\\c"},
           // unescape: decoded before dot segments are removed, so nothing climbs past a prefix.
           Case{"/public/..%2fadmin", E::UnescapeAndForward, V::Normalized, "/admin"},
           Case{"/a%2Fb%5Cc\\d", E::UnescapeAndForward, V::Normalized, "/a/b/c/d"},
           Case{"/public\\..\\admin", E::UnescapeAndForward, V::Normalized, "/admin"},
           Case{"/a%2Fb?x", E::UnescapeAndRedirect, V::Redirect, "/a/b?x"},
           Case{"/public/..%2fadmin", E::UnescapeAndRedirect, V::Redirect, "/admin"},
           // nothing escaped: no redirect, just the normal form.
           Case{"/a/../b", E::UnescapeAndRedirect, V::Normalized, "/b"},
           Case{"/a/b", E::UnescapeAndRedirect, V::Unchanged, "/a/b"},
       })
    check(c);
}

TEST(PathNormalize, MalformedTargetsAreRefused) {
  for (E mode : {E::Reject, E::Keep, E::UnescapeAndForward, E::UnescapeAndRedirect}) {
    for (const Case& c : {
             Case{"/a#frag", mode, V::Fragment, ""},
             Case{"/a?q#frag", mode, V::Fragment, ""},
             Case{"/#", mode, V::Fragment, ""},
             Case{"/a%", mode, V::BadEncoding, ""},
             Case{"/a%2", mode, V::BadEncoding, ""},
             Case{"/a%zz", mode, V::BadEncoding, ""},
             Case{"/a%2g/b", mode, V::BadEncoding, ""},
             Case{"", mode, V::NotAPath, ""},
             Case{"a/b", mode, V::NotAPath, ""},
             Case{"**", mode, V::NotAPath, ""},
         })
      check(c);
  }
}

TEST(PathNormalize, NormalFormIsAFixedPoint) {
  for (E mode : {E::Keep, E::UnescapeAndForward}) {
    for (std::string_view in : {"/a/%2e%2E/b/./c/..%2f%5c\\d/%7e?q", "/x/%2F%2e%2e%2F..%2F/y",
                                "/../%2e./.%2e/a/b/../%2E"}) {
      std::string once, twice;
      V v = normalizeTarget(in, mode, once);
      ASSERT_EQ(v, V::Normalized) << in;
      EXPECT_EQ(normalizeTarget(once, mode, twice), V::Unchanged) << in << " -> " << once;
    }
  }
}

}  // namespace
}  // namespace meridian::proxy::http
