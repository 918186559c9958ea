#include "certs/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <string.h>

#include <mutex>
#include <optional>

namespace meridian::certs {

namespace {

using Clock = std::chrono::steady_clock;

struct TicketKey {
  unsigned char name[16];
  unsigned char aes[32];
  unsigned char hmac[32];
  Clock::time_point created;
};

class TicketKeys {
 public:
  // The key to encrypt with; false only when the random generator failed.
  bool current(TicketKey& out) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ageLocked(Clock::now())) return false;
    out = *current_;
    return true;
  }

  // 1: found, the current key; 2: found, the previous key (renew); 0: unknown or expired.
  int find(const unsigned char name[16], TicketKey& out) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ageLocked(Clock::now())) return 0;
    if (memcmp(current_->name, name, 16) == 0) {
      out = *current_;
      return 1;
    }
    if (previous_ && memcmp(previous_->name, name, 16) == 0) {
      out = *previous_;
      return 2;
    }
    return 0;
  }

  void rotate() {
    std::lock_guard<std::mutex> lock(mu_);
    rotateLocked(Clock::now());
  }

 private:
  bool ageLocked(Clock::time_point now) {
    if (current_ && now - current_->created < kTicketKeyInterval) return true;
    // Idle for two intervals: the old current key is too old to be the previous one either.
    bool stale = current_ && now - current_->created >= 2 * kTicketKeyInterval;
    if (!rotateLocked(now)) return false;
    if (stale) previous_.reset();
    return true;
  }

  bool rotateLocked(Clock::time_point now) {
    TicketKey k;
    if (RAND_bytes(k.name, sizeof k.name) != 1 || RAND_priv_bytes(k.aes, sizeof k.aes) != 1 ||
        RAND_priv_bytes(k.hmac, sizeof k.hmac) != 1)
      return false;
    k.created = now;
    previous_ = current_;
    current_ = k;
    return true;
  }

  std::mutex mu_;
  std::optional<TicketKey> current_;
  std::optional<TicketKey> previous_;
};

TicketKeys& keys() {
  static TicketKeys* k = new TicketKeys();  // never destroyed: workers may outlive statics
  return *k;
}

bool initMac(EVP_MAC_CTX* mac, unsigned char* hmac_key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, hmac_key, 32),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

}  // namespace

int ticketKeyCallback(SSL*, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                      EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
  TicketKey k;
  if (encrypt) {
    if (!keys().current(k)) return -1;
    if (RAND_bytes(iv, 16) != 1) return -1;
    memcpy(key_name, k.name, 16);
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes, iv) != 1) return -1;
    return initMac(mac, k.hmac) ? 1 : -1;
  }
  int found = keys().find(key_name, k);
  if (found == 0) return 0;  // a full handshake, and a fresh ticket
  if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes, iv) != 1) return -1;
  return initMac(mac, k.hmac) ? found : -1;
}

void rotateTicketKeys() {
  keys().rotate();
}

}  // namespace meridian::certs
