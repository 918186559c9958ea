#pragma once
// The ACME client's files under `storage:`: the account key, the certificate and its key
// (keys 0600, written whole to a temporary name and renamed, so a crash never leaves half a
// key), and the last order's result for `meridian certs status`.
#include <ctime>
#include <optional>
#include <string>

#include "core/error.h"

namespace meridian::acme {

struct LastOrder {
  std::string result;  // "success" or "failure"; empty: no order yet
  std::string detail;  // the error, with the server's problem document
  time_t at = 0;
  time_t next_attempt = 0;
  int attempt = 0;  // failures in a row (storage: fleet: the fleet's, so its backoff grows)
};

class FileStorage {
 public:
  explicit FileStorage(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }

  core::Result<bool> ensureDir() const;  // 0700: it holds keys
  std::optional<std::string> accountKey() const;
  core::Result<bool> saveAccountKey(const std::string& pem) const;
  // The chain (leaf first) and its key; nullopt unless both are there.
  std::optional<std::pair<std::string, std::string>> certificate() const;
  core::Result<bool> saveCertificate(const std::string& chain_pem,
                                     const std::string& key_pem) const;
  LastOrder lastOrder() const;
  core::Result<bool> saveLastOrder(const LastOrder& last) const;

  std::string path(const char* name) const;

 private:
  std::string dir_;
};

// Writes `data` to `path` with `mode`, through a temporary file in the same directory.
core::Result<bool> writeFileAtomically(const std::string& path, const std::string& data,
                                       unsigned mode);

}  // namespace meridian::acme
