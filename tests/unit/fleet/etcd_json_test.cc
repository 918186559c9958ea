#include "fleet/etcd_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace meridian::fleet {
namespace {

TEST(Base64, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 70; ++i) {
    auto decoded = base64Decode(base64Encode(bytes));
    ASSERT_TRUE(decoded.has_value()) << i;
    EXPECT_EQ(*decoded, bytes) << i;
    bytes.push_back(static_cast<char>(i * 37));
  }
  EXPECT_EQ(base64Encode("/m/config"), "L20vY29uZmln");
  EXPECT_EQ(base64Encode("x"), "eA==");
}

TEST(Base64, RefusesWhatIsNotBase64) {
  EXPECT_FALSE(base64Decode("abc").has_value());   // not a multiple of 4
  EXPECT_FALSE(base64Decode("ab$=").has_value());  // not the alphabet
}

TEST(PrefixEnd, IsThePrefixWithItsLastByteBumped) {
  EXPECT_EQ(prefixEnd("/m/"), "/m0");
  EXPECT_EQ(prefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefixEnd(""), std::string(1, '\0'));
}

TEST(Requests, CarryKeysInBase64AndInt64AsStrings) {
  auto put = nlohmann::json::parse(putRequest("/k", "v", 42));
  EXPECT_EQ(put["key"], base64Encode("/k"));
  EXPECT_EQ(put["value"], base64Encode("v"));
  EXPECT_EQ(put["lease"], "42");
  EXPECT_FALSE(nlohmann::json::parse(putRequest("/k", "v", 0)).contains("lease"));
  auto range = nlohmann::json::parse(rangeRequest("/a/", "/a0"));
  EXPECT_EQ(range["range_end"], base64Encode("/a0"));
  auto watch = nlohmann::json::parse(watchRequest("/a/", "/a0", 17));
  EXPECT_EQ(watch["create_request"]["start_revision"], "17");
}

TEST(Requests, CompareAndSwapOnTheRevisionRead) {
  auto cas = nlohmann::json::parse(casPutRequest("/k", "v", 9));
  EXPECT_EQ(cas["compare"][0]["target"], "MOD");
  EXPECT_EQ(cas["compare"][0]["mod_revision"], "9");
  EXPECT_EQ(cas["compare"][0]["result"], "EQUAL");
  EXPECT_EQ(cas["success"][0]["request_put"]["value"], base64Encode("v"));
  // Never written: the key must still not exist.
  auto first = nlohmann::json::parse(casPutRequest("/k", "v", 0));
  EXPECT_EQ(first["compare"][0]["target"], "CREATE");
  EXPECT_EQ(first["compare"][0]["create_revision"], "0");
  auto create = nlohmann::json::parse(createRequest("/k", "v", 5));
  EXPECT_EQ(create["compare"][0]["target"], "CREATE");
  EXPECT_EQ(create["success"][0]["request_put"]["lease"], "5");
}

// A claim (Idempotency-Key): written if absent or unchanged, else read in the same transaction;
// the owner's later put or delete only while the key is still the one it wrote.
TEST(Requests, ClaimAndOwnedWrites) {
  auto create = nlohmann::json::parse(claimRequest("/k", "v", 7, 0));
  EXPECT_EQ(create["compare"][0]["target"], "CREATE");
  EXPECT_EQ(create["compare"][0]["create_revision"], "0");
  EXPECT_EQ(create["success"][0]["request_put"]["lease"], "7");
  EXPECT_EQ(create["failure"][0]["request_range"]["key"], base64Encode("/k"));
  auto replace = nlohmann::json::parse(claimRequest("/k", "v", 7, 12));
  EXPECT_EQ(replace["compare"][0]["target"], "MOD");
  EXPECT_EQ(replace["compare"][0]["mod_revision"], "12");
  auto put = nlohmann::json::parse(ownedPutRequest("/k", "done", 8, 12));
  EXPECT_EQ(put["compare"][0]["mod_revision"], "12");
  EXPECT_EQ(put["success"][0]["request_put"]["lease"], "8");
  EXPECT_FALSE(put.contains("failure"));
  auto del = nlohmann::json::parse(ownedDeleteRequest("/k", 12));
  EXPECT_EQ(del["compare"][0]["mod_revision"], "12");
  EXPECT_EQ(del["success"][0]["request_delete_range"]["key"], base64Encode("/k"));
}

// Answers as etcd 3.4's gateway writes them.
TEST(Answers, RangeReadsKeysValuesAndRevisions) {
  auto r = parseRange(
      R"({"header":{"cluster_id":"1","member_id":"2","revision":"7","raft_term":"2"},)"
      R"("kvs":[{"key":"L20vY29uZmln","create_revision":"2","mod_revision":"6","version":"3",)"
      R"("value":"eA==","lease":"99"}],"count":"1"})");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r.value().revision, 7);
  ASSERT_EQ(r.value().kvs.size(), 1u);
  EXPECT_EQ(r.value().kvs[0].key, "/m/config");
  EXPECT_EQ(r.value().kvs[0].value, "x");
  EXPECT_EQ(r.value().kvs[0].create_revision, 2);
  EXPECT_EQ(r.value().kvs[0].mod_revision, 6);
  EXPECT_EQ(r.value().kvs[0].lease, 99);
  auto empty = parseRange(R"({"header":{"revision":"3"}})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty.value().kvs.empty());
}

TEST(Answers, TxnSucceededIsLeftOutWhenFalse) {
  EXPECT_TRUE(parseTxn(R"({"header":{"revision":"3"},"succeeded":true})").value());
  EXPECT_FALSE(parseTxn(R"({"header":{"revision":"3"}})").value());
}

TEST(Answers, ClaimWrittenOrTheKeyAsItIs) {
  auto written = parseClaim(R"({"header":{"revision":"2"},"succeeded":true,)"
                            R"("responses":[{"response_put":{"header":{"revision":"2"}}}]})");
  ASSERT_TRUE(written.ok()) << written.error().detail;
  EXPECT_TRUE(written.value().written);
  EXPECT_EQ(written.value().revision, 2);
  auto held = parseClaim(
      R"({"header":{"revision":"2"},"responses":[{"response_range":{"header":{"revision":"2"},)"
      R"("kvs":[{"key":"L2s=","create_revision":"2","mod_revision":"2","version":"1",)"
      R"("value":"dg=="}],"count":"1"}}]})");
  ASSERT_TRUE(held.ok()) << held.error().detail;
  EXPECT_FALSE(held.value().written);
  ASSERT_TRUE(held.value().current.has_value());
  EXPECT_EQ(held.value().current->value, "v");
  EXPECT_EQ(held.value().current->mod_revision, 2);
  // The compare failed on a revision, and the key is gone by now.
  auto gone =
      parseClaim(R"({"header":{"revision":"3"},"responses":[{"response_range":{"header":{}}}]})");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone.value().written);
  EXPECT_FALSE(gone.value().current.has_value());
  EXPECT_FALSE(parseClaim(R"({"header":{"revision":"3"}})").ok());
}

TEST(Answers, EtcdErrorsBecomeErrorsWithItsMessage) {
  auto r = parseRange(R"({"error":"etcdserver: no leader","message":"etcdserver: no leader",)"
                      R"("code":14})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().detail.find("no leader"), std::string::npos);
  EXPECT_FALSE(parseRange("<html>").ok());
  EXPECT_FALSE(parseRange(R"({"kvs":[{"key":"not base64!"}]})").ok());
}

TEST(Answers, LeaseGrantAndKeepAlive) {
  auto g = parseLeaseGrant(R"({"header":{},"ID":"4111120415649356295","TTL":"5"})");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g.value().id, 4111120415649356295);
  EXPECT_EQ(g.value().ttl, 5);
  EXPECT_EQ(parseKeepAlive(R"({"result":{"header":{},"ID":"1","TTL":"5"}})").value(), 5);
  // A lease that expired: the TTL is left out.
  EXPECT_EQ(parseKeepAlive(R"({"result":{"header":{},"ID":"1"}})").value(), 0);
}

TEST(Answers, WatchMessages) {
  auto created = parseWatchMessage(R"({"result":{"header":{"revision":"2"},"created":true}})");
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(created.value().created);
  auto events = parseWatchMessage(
      R"({"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"YQ==","mod_revision":"2",)"
      R"("value":"eA=="}},{"type":"DELETE","kv":{"key":"Yg==","mod_revision":"3"}}]}})");
  ASSERT_TRUE(events.ok()) << events.error().detail;
  ASSERT_EQ(events.value().events.size(), 2u);
  EXPECT_FALSE(events.value().events[0].deleted);
  EXPECT_EQ(events.value().events[0].kv.key, "a");
  EXPECT_EQ(events.value().events[0].kv.value, "x");
  EXPECT_TRUE(events.value().events[1].deleted);
  EXPECT_EQ(events.value().events[1].kv.mod_revision, 3);
  auto compacted = parseWatchMessage(
      R"({"result":{"header":{"revision":"9"},"canceled":true,"compact_revision":"5"}})");
  ASSERT_TRUE(compacted.ok());
  EXPECT_TRUE(compacted.value().canceled);
  EXPECT_EQ(compacted.value().compact_revision, 5);
}

}  // namespace
}  // namespace meridian::fleet
