#include "acme/jws.h"

#include <nlohmann/json.hpp>

namespace meridian::acme {

core::Result<std::string> signJws(const certs::EcKey& key, const std::string& url,
                                  const std::string& nonce, const std::string& kid,
                                  const std::optional<std::string>& payload) {
  nlohmann::ordered_json header{{"alg", "ES256"}, {"nonce", nonce}, {"url", url}};
  if (kid.empty())
    header["jwk"] = nlohmann::ordered_json::parse(key.jwk());
  else
    header["kid"] = kid;
  std::string protected64 = certs::base64url(header.dump());
  std::string payload64 = payload ? certs::base64url(*payload) : std::string();
  auto sig = key.signEs256(protected64 + "." + payload64);
  if (!sig.ok()) return sig.error();
  nlohmann::ordered_json body{{"protected", protected64},
                              {"payload", payload64},
                              {"signature", certs::base64url(sig.value())}};
  return body.dump();
}

std::string keyAuthorization(const std::string& token, const certs::EcKey& account_key) {
  return token + "." + account_key.thumbprint();
}

}  // namespace meridian::acme
