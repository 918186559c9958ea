#include "fleet/idempotency_record.h"

#include <nlohmann/json.hpp>

#include "fleet/etcd_json.h"

namespace meridian::fleet {

using nlohmann::json;

namespace {

const char* stateName(IdemRecord::State s) {
  switch (s) {
    case IdemRecord::State::InFlight:
      return "in_flight";
    case IdemRecord::State::Done:
      return "done";
    case IdemRecord::State::DoneNotKept:
      return "done_not_kept";
  }
  return "";
}

}  // namespace

std::string encodeRecord(const IdemRecord& r) {
  json j = {{"state", stateName(r.state)}, {"owner", r.owner}};
  if (r.state == IdemRecord::State::Done && r.response) {
    j["status"] = r.response->status;
    json headers = json::array();
    for (const auto& [name, value] : r.response->headers) headers.push_back({name, value});
    j["headers"] = std::move(headers);
    j["body"] = base64Encode(r.response->body);
  }
  // A header value may hold bytes that are not UTF-8 (obs-text): replaced, never a throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<IdemRecord> decodeRecord(std::string_view value) {
  json j = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("state") || !j["state"].is_string())
    return std::nullopt;
  IdemRecord r;
  const auto& state = j["state"].get_ref<const std::string&>();
  if (j.contains("owner") && j["owner"].is_string()) r.owner = j["owner"].get<std::string>();
  if (state == "in_flight") {
    r.state = IdemRecord::State::InFlight;
    return r;
  }
  if (state == "done_not_kept") {
    r.state = IdemRecord::State::DoneNotKept;
    return r;
  }
  if (state != "done" || !j.contains("status") || !j["status"].is_number_integer() ||
      !j.contains("body") || !j["body"].is_string())
    return std::nullopt;
  auto resp = std::make_shared<IdemResponse>();
  resp->status = j["status"].get<int>();
  auto body = base64Decode(j["body"].get_ref<const std::string&>());
  if (!body) return std::nullopt;
  resp->body = std::move(*body);
  if (j.contains("headers") && j["headers"].is_array()) {
    for (const auto& h : j["headers"]) {
      if (!h.is_array() || h.size() != 2 || !h[0].is_string() || !h[1].is_string())
        return std::nullopt;
      resp->headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
    }
  }
  r.state = IdemRecord::State::Done;
  r.response = std::move(resp);
  return r;
}

}  // namespace meridian::fleet
