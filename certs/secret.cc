#include "certs/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace meridian::certs {

namespace {

bool sha256(std::string_view s, unsigned char (&out)[EVP_MAX_MD_SIZE]) {
  unsigned int len = 0;
  return EVP_Digest(s.data(), s.size(), out, &len, EVP_sha256(), nullptr) == 1 && len == 32;
}

}  // namespace

bool secretEquals(std::string_view a, std::string_view b) {
  unsigned char da[EVP_MAX_MD_SIZE] = {};
  unsigned char db[EVP_MAX_MD_SIZE] = {};
  bool hashed_a = sha256(a, da);
  bool hashed_b = sha256(b, db);
  return hashed_a && hashed_b && CRYPTO_memcmp(da, db, 32) == 0;
}

}  // namespace meridian::certs
