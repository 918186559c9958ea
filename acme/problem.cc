#include "acme/problem.h"

#include <nlohmann/json.hpp>

namespace meridian::acme {

namespace {

constexpr std::string_view kAcmeErrors = "urn:ietf:params:acme:error:";

std::string stringOf(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Problem fromJson(const nlohmann::json& j, int http_status) {
  Problem p;
  p.type = stringOf(j, "type");
  p.detail = stringOf(j, "detail");
  auto status = j.find("status");
  p.status = status != j.end() && status->is_number_integer() ? status->get<int>() : http_status;
  auto id = j.find("identifier");
  if (id != j.end() && id->is_object()) p.identifier = stringOf(*id, "value");
  auto subs = j.find("subproblems");
  if (subs != j.end() && subs->is_array()) {
    for (const auto& s : *subs)
      if (s.is_object()) p.subproblems.push_back(fromJson(s, http_status));
  }
  return p;
}

}  // namespace

bool Problem::is(std::string_view short_type) const {
  return type.size() == kAcmeErrors.size() + short_type.size() && type.starts_with(kAcmeErrors) &&
         type.ends_with(short_type);
}

std::string Problem::text() const {
  std::string out = type.starts_with(kAcmeErrors) ? type.substr(kAcmeErrors.size()) : type;
  if (out.empty()) out = "error";
  if (status != 0) out += " (" + std::to_string(status) + ")";
  if (!detail.empty()) out += ": " + detail;
  for (const auto& s : subproblems) out += "; " + s.identifier + ": " + s.text();
  return out;
}

Problem parseProblem(std::string_view body, int http_status) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) return fromJson(j, http_status);
  Problem p;
  p.status = http_status;
  p.detail = std::string(body.substr(0, 200));
  return p;
}

}  // namespace meridian::acme
