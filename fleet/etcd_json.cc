#include "fleet/etcd_json.h"

#include <openssl/evp.h>

#include <charconv>
#include <nlohmann/json.hpp>

namespace meridian::fleet {
namespace {

using nlohmann::json;

core::Error etcdError(std::string detail) {
  return core::Error{core::ErrorKind::ProtocolError, core::Side::Upstream, false,
                     "etcd: " + std::move(detail)};
}

// The gateway writes int64 as a string; a number is accepted too.
int64_t int64Of(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (!it->is_string()) return 0;
  const auto& s = it->get_ref<const std::string&>();
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

core::Result<json> parseObject(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    std::string head(body.substr(0, 200));
    return etcdError("not a JSON object: " + head);
  }
  if (j.contains("error")) {
    std::string message = j.value("message", std::string());
    if (message.empty() && j["error"].is_string()) message = j["error"].get<std::string>();
    if (message.empty() && j["error"].is_object())
      message = j["error"].value("message", std::string("error"));
    return etcdError(message.empty() ? "error" : message);
  }
  return j;
}

std::optional<std::string> bytesOf(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return base64Decode(it->get_ref<const std::string&>());
}

core::Result<KeyValue> keyValueOf(const json& j) {
  if (!j.is_object()) return etcdError("a key-value that is not an object");
  auto key = bytesOf(j, "key");
  auto value = bytesOf(j, "value");
  if (!key || !value) return etcdError("a key or value that is not base64");
  return KeyValue{*key, *value, int64Of(j, "create_revision"), int64Of(j, "mod_revision"),
                  int64Of(j, "lease")};
}

int64_t headerRevision(const json& j) {
  auto it = j.find("header");
  return it != j.end() && it->is_object() ? int64Of(*it, "revision") : 0;
}

json putOp(std::string_view key, std::string_view value, int64_t lease) {
  json put = {{"key", base64Encode(key)}, {"value", base64Encode(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);
  return put;
}

// The compare of a conditional write: the key absent (0), or still at `mod_revision`.
json compareOf(std::string_view key, int64_t mod_revision) {
  json compare = {{"key", base64Encode(key)}, {"result", "EQUAL"}};
  if (mod_revision == 0) {
    compare["target"] = "CREATE";
    compare["create_revision"] = "0";
  } else {
    compare["target"] = "MOD";
    compare["mod_revision"] = std::to_string(mod_revision);
  }
  return compare;
}

}  // namespace

std::string base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return std::string();
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t pad = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string prefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key: etcd reads "\0" as "no end"
}

std::string rangeRequest(std::string_view key, std::string_view range_end) {
  json j = {{"key", base64Encode(key)}};
  if (!range_end.empty()) j["range_end"] = base64Encode(range_end);
  return j.dump();
}

std::string putRequest(std::string_view key, std::string_view value, int64_t lease) {
  return putOp(key, value, lease).dump();
}

std::string deleteRequest(std::string_view key) {
  return json{{"key", base64Encode(key)}}.dump();
}

std::string casPutRequest(std::string_view key, std::string_view value, int64_t mod_revision) {
  return ownedPutRequest(key, value, 0, mod_revision);
}

std::string ownedPutRequest(std::string_view key, std::string_view value, int64_t lease,
                            int64_t mod_revision) {
  json txn = {{"compare", json::array({compareOf(key, mod_revision)})},
              {"success", json::array({{{"request_put", putOp(key, value, lease)}}})}};
  return txn.dump();
}

std::string ownedDeleteRequest(std::string_view key, int64_t mod_revision) {
  json txn = {{"compare", json::array({compareOf(key, mod_revision)})},
              {"success", json::array({{{"request_delete_range", {{"key", base64Encode(key)}}}}})}};
  return txn.dump();
}

std::string claimRequest(std::string_view key, std::string_view value, int64_t lease,
                         int64_t mod_revision) {
  json txn = {{"compare", json::array({compareOf(key, mod_revision)})},
              {"success", json::array({{{"request_put", putOp(key, value, lease)}}})},
              {"failure", json::array({{{"request_range", {{"key", base64Encode(key)}}}}})}};
  return txn.dump();
}

std::string createRequest(std::string_view key, std::string_view value, int64_t lease) {
  return ownedPutRequest(key, value, lease, 0);
}

std::string leaseGrantRequest(int64_t ttl_seconds) {
  return json{{"TTL", std::to_string(ttl_seconds)}}.dump();
}

std::string leaseIdRequest(int64_t id) {
  return json{{"ID", std::to_string(id)}}.dump();
}

std::string watchRequest(std::string_view key, std::string_view range_end, int64_t start_revision) {
  json create = {{"key", base64Encode(key)}};
  if (!range_end.empty()) create["range_end"] = base64Encode(range_end);
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  return json{{"create_request", create}}.dump();
}

core::Result<RangeResult> parseRange(std::string_view body) {
  auto j = parseObject(body);
  if (!j.ok()) return j.error();
  RangeResult r;
  r.revision = headerRevision(j.value());
  auto kvs = j.value().find("kvs");
  if (kvs == j.value().end()) return r;
  if (!kvs->is_array()) return etcdError("kvs is not a list");
  for (const auto& item : *kvs) {
    auto kv = keyValueOf(item);
    if (!kv.ok()) return kv.error();
    r.kvs.push_back(std::move(kv.value()));
  }
  return r;
}

core::Result<int64_t> parseRevision(std::string_view body) {
  auto j = parseObject(body);
  if (!j.ok()) return j.error();
  return headerRevision(j.value());
}

core::Result<bool> parseTxn(std::string_view body) {
  auto j = parseObject(body);
  if (!j.ok()) return j.error();
  return j.value().value("succeeded", false);
}

core::Result<ClaimAnswer> parseClaim(std::string_view body) {
  auto j = parseObject(body);
  if (!j.ok()) return j.error();
  ClaimAnswer a;
  a.written = j.value().value("succeeded", false);
  a.revision = headerRevision(j.value());
  if (a.written) return a;
  auto responses = j.value().find("responses");
  if (responses == j.value().end() || !responses->is_array() || responses->empty() ||
      !(*responses)[0].is_object() || !(*responses)[0].contains("response_range"))
    return etcdError("a claim's answer without the key's range");
  const json& range = (*responses)[0]["response_range"];
  auto kvs = range.find("kvs");
  if (kvs == range.end()) return a;  // gone since the compare: absent
  if (!kvs->is_array()) return etcdError("kvs is not a list");
  if (kvs->empty()) return a;
  auto kv = keyValueOf((*kvs)[0]);
  if (!kv.ok()) return kv.error();
  a.current = std::move(kv.value());
  return a;
}

core::Result<LeaseGrant> parseLeaseGrant(std::string_view body) {
  auto j = parseObject(body);
  if (!j.ok()) return j.error();
  LeaseGrant g{int64Of(j.value(), "ID"), int64Of(j.value(), "TTL")};
  if (g.id == 0) return etcdError("a lease grant without an ID");
  return g;
}

core::Result<int64_t> parseKeepAlive(std::string_view body) {
  auto j = parseObject(body);
  if (!j.ok()) return j.error();
  auto result = j.value().find("result");
  if (result == j.value().end() || !result->is_object())
    return etcdError("a keepalive answer without a result");
  return int64Of(*result, "TTL");
}

core::Result<WatchMessage> parseWatchMessage(std::string_view line) {
  auto j = parseObject(line);
  if (!j.ok()) return j.error();
  auto result = j.value().find("result");
  if (result == j.value().end() || !result->is_object())
    return etcdError("a watch message without a result");
  WatchMessage m;
  m.revision = headerRevision(*result);
  m.created = result->value("created", false);
  m.canceled = result->value("canceled", false);
  m.compact_revision = int64Of(*result, "compact_revision");
  auto events = result->find("events");
  if (events == result->end()) return m;
  if (!events->is_array()) return etcdError("watch events that are not a list");
  for (const auto& e : *events) {
    if (!e.is_object() || !e.contains("kv")) return etcdError("a watch event without a kv");
    auto kv = keyValueOf(e["kv"]);
    if (!kv.ok()) return kv.error();
    m.events.push_back(WatchEvent{e.value("type", std::string("PUT")) == "DELETE", kv.value()});
  }
  return m;
}

}  // namespace meridian::fleet
