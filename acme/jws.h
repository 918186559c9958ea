#pragma once
// RFC 8555, 6.2: every POST to an ACME server is a flattened JWS (RFC 7515, 7.2.2) signed
// with the account key: protected header {alg, nonce, url} and either the key itself (jwk, for
// newAccount) or the account's URL (kid); the payload is JSON, or empty for a POST-as-GET.
#include <optional>
#include <string>

#include "certs/acme_crypto.h"
#include "core/error.h"

namespace meridian::acme {

// The JSON body: {"protected": ..., "payload": ..., "signature": ...}, all base64url.
// `kid` empty: the header carries the key's JWK. `payload` nullopt: POST-as-GET ("").
core::Result<std::string> signJws(const certs::EcKey& key, const std::string& url,
                                  const std::string& nonce, const std::string& kid,
                                  const std::optional<std::string>& payload);

// RFC 8555, 8.1: token "." base64url(JWK thumbprint of the account key).
std::string keyAuthorization(const std::string& token, const certs::EcKey& account_key);

}  // namespace meridian::acme
