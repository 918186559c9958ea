// gRPC's few protocol facts a proxy needs: content types, grpc-timeout, status names.
#include "core/grpc.h"

#include <gtest/gtest.h>

namespace meridian::core::grpc {
namespace {

using std::chrono::milliseconds;

TEST(Grpc, ContentTypes) {
  EXPECT_TRUE(isGrpc("application/grpc"));
  EXPECT_TRUE(isGrpc("application/grpc+proto"));
  EXPECT_TRUE(isGrpc("Application/GRPC;charset=x"));
  EXPECT_FALSE(isGrpc("application/grpc-web"));
  EXPECT_FALSE(isGrpc("application/json"));
  EXPECT_FALSE(isGrpc(""));
}

TEST(Grpc, Timeouts) {
  EXPECT_EQ(parseTimeout("300m"), milliseconds(300));
  EXPECT_EQ(parseTimeout("2S"), milliseconds(2000));
  EXPECT_EQ(parseTimeout("1M"), milliseconds(60000));
  EXPECT_EQ(parseTimeout("1H"), milliseconds(3600000));
  EXPECT_EQ(parseTimeout("1500u"), milliseconds(2));
  EXPECT_EQ(parseTimeout("1n"), milliseconds(1));
  EXPECT_EQ(parseTimeout("99999999S"), milliseconds(99999999000));
  EXPECT_EQ(parseTimeout("123456789S"), std::nullopt);  // more than 8 digits
  EXPECT_EQ(parseTimeout("5"), std::nullopt);
  EXPECT_EQ(parseTimeout("5x"), std::nullopt);
  EXPECT_EQ(parseTimeout("-5S"), std::nullopt);
}

TEST(Grpc, StatusNamesAndValues) {
  EXPECT_EQ(codeByName("unavailable"), 14);
  EXPECT_EQ(codeByName("resource_exhausted"), 8);
  EXPECT_EQ(codeByName("UNAVAILABLE"), -1);
  EXPECT_STREQ(codeName(4), "deadline_exceeded");
  EXPECT_EQ(codeName(17), nullptr);
  EXPECT_EQ(parseStatus("14"), 14);
  EXPECT_EQ(parseStatus("0"), 0);
  EXPECT_EQ(parseStatus("17"), -1);
  EXPECT_EQ(parseStatus("1a"), -1);
}

TEST(Grpc, ProxyErrorsMapToCodes) {
  EXPECT_EQ(codeForHttpStatus(503), kUnavailable);
  EXPECT_EQ(codeForHttpStatus(502), kUnavailable);
  EXPECT_EQ(codeForHttpStatus(504), kDeadlineExceeded);
  EXPECT_EQ(codeForHttpStatus(404), 12);
  EXPECT_EQ(codeForHttpStatus(500), 2);
}

}  // namespace
}  // namespace meridian::core::grpc
