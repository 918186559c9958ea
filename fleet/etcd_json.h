#pragma once
// The bodies of etcd's v3 JSON gateway (the gRPC API as JSON over HTTP/1.1): requests built
// and answers read here, with no I/O, so they can be tested with tables. The gateway sends
// keys and values in base64 and 64-bit integers as strings; a field at its zero value
// (false, 0, PUT) is left out.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace meridian::fleet {

std::string base64Encode(std::string_view bytes);
// nullopt for text that is not base64.
std::optional<std::string> base64Decode(std::string_view text);
// The key just past every key that starts with `prefix`: the range_end of a prefix range.
std::string prefixEnd(std::string_view prefix);

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

struct RangeResult {
  int64_t revision = 0;  // the store's revision the answer was read at
  std::vector<KeyValue> kvs;
};

struct WatchEvent {
  bool deleted = false;
  KeyValue kv;
};

// One message of a watch stream.
struct WatchMessage {
  int64_t revision = 0;  // the header's: every event up to it has been sent
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // > 0: the revision asked for was compacted away
  std::vector<WatchEvent> events;
};

// A claim's answer: whether the key was written and, when it was not, the key as it is (read
// in the same transaction; nullopt when absent).
struct ClaimAnswer {
  bool written = false;
  int64_t revision = 0;  // the header's: the store's revision after (or as read by) the txn
  std::optional<KeyValue> current;
};

struct LeaseGrant {
  int64_t id = 0;
  int64_t ttl = 0;
};

// Requests. `range_end` empty: the one key.
std::string rangeRequest(std::string_view key, std::string_view range_end);
std::string putRequest(std::string_view key, std::string_view value, int64_t lease);
std::string deleteRequest(std::string_view key);
// A put done only if the key's mod_revision is still `mod_revision` (0: the key must not
// exist, compared as create_revision == 0).
std::string casPutRequest(std::string_view key, std::string_view value, int64_t mod_revision);
// A put done only if the key does not exist yet.
std::string createRequest(std::string_view key, std::string_view value, int64_t lease);
// A put under `lease` done only if the key is absent (mod_revision 0) or still at
// `mod_revision`; otherwise the key is read instead, in the same transaction.
std::string claimRequest(std::string_view key, std::string_view value, int64_t lease,
                         int64_t mod_revision);
// A put (under `lease`) or a delete, done only if the key is still at `mod_revision`.
std::string ownedPutRequest(std::string_view key, std::string_view value, int64_t lease,
                            int64_t mod_revision);
std::string ownedDeleteRequest(std::string_view key, int64_t mod_revision);
std::string leaseGrantRequest(int64_t ttl_seconds);
std::string leaseIdRequest(int64_t id);  // keepalive and revoke
std::string watchRequest(std::string_view key, std::string_view range_end, int64_t start_revision);

// Answers. An answer that is etcd's error object ({"error": ..., "code": N}) or not JSON of
// the expected shape is an Error with etcd's message.
core::Result<RangeResult> parseRange(std::string_view body);
core::Result<int64_t> parseRevision(std::string_view body);  // put, delete: the header's
// A transaction: true when its compare held (and the put was done).
core::Result<bool> parseTxn(std::string_view body);
core::Result<ClaimAnswer> parseClaim(std::string_view body);
core::Result<LeaseGrant> parseLeaseGrant(std::string_view body);
// A keepalive: the TTL left; 0 when the lease is gone.
core::Result<int64_t> parseKeepAlive(std::string_view body);
core::Result<WatchMessage> parseWatchMessage(std::string_view line);

}  // namespace meridian::fleet
