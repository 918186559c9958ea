// secretEquals: equal only for the same bytes, whatever the lengths.
#include "certs/secret.h"

#include <gtest/gtest.h>

#include <string>

namespace meridian::certs {
namespace {

TEST(SecretEquals, SameBytesOnly) {
  EXPECT_TRUE(secretEquals("s3cret-token", "s3cret-token"));
  EXPECT_TRUE(secretEquals("", ""));
  EXPECT_FALSE(secretEquals("s3cret-token", "s3cret-tokeN"));
  EXPECT_FALSE(secretEquals("s3cret-token", "s3cret-token "));
  EXPECT_FALSE(secretEquals("s3cret-token", "s3cret"));
  EXPECT_FALSE(secretEquals("s3cret-token", ""));
  EXPECT_FALSE(secretEquals(std::string("a\0b", 3), "a"));
}

}  // namespace
}  // namespace meridian::certs
