#include "acme/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/file_read.h"

namespace meridian::acme {

namespace {

constexpr char kAccountKey[] = "account.key";
constexpr char kCertificate[] = "certificate.pem";
constexpr char kCertificateKey[] = "certificate.key";
constexpr char kLastOrder[] = "last-order.json";

core::Error failure(const std::string& path, int err) {
  return core::Error{core::ErrorKind::Internal, core::Side::Internal, false,
                     path + ": " + strerror(err)};
}

std::optional<std::string> readText(const std::string& path) {
  auto text = core::readRegularFile(path, core::kPemFileLimit);
  if (!text.ok()) return std::nullopt;
  return std::move(text.value());
}

}  // namespace

core::Result<bool> writeFileAtomically(const std::string& path, const std::string& data,
                                       unsigned mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return failure(tmp, errno);
  fchmod(fd, mode);  // a file left over keeps its old mode through O_CREAT
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return failure(tmp, err);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return failure(tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return failure(path, errno);
  return true;
}

std::string FileStorage::path(const char* name) const {
  std::string d = dir_;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d + "/" + name;
}

core::Result<bool> FileStorage::ensureDir() const {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) return failure(dir_, errno);
  return true;
}

std::optional<std::string> FileStorage::accountKey() const {
  return readText(path(kAccountKey));
}

core::Result<bool> FileStorage::saveAccountKey(const std::string& pem) const {
  return writeFileAtomically(path(kAccountKey), pem, 0600);
}

std::optional<std::pair<std::string, std::string>> FileStorage::certificate() const {
  auto chain = readText(path(kCertificate));
  auto key = readText(path(kCertificateKey));
  if (!chain || !key) return std::nullopt;
  return std::make_pair(std::move(*chain), std::move(*key));
}

core::Result<bool> FileStorage::saveCertificate(const std::string& chain_pem,
                                                const std::string& key_pem) const {
  // The key first: a chain next to the old key would not load, an old chain next to a new
  // key neither; either way the next start orders again rather than serving a mismatch.
  auto k = writeFileAtomically(path(kCertificateKey), key_pem, 0600);
  if (!k.ok()) return k;
  return writeFileAtomically(path(kCertificate), chain_pem, 0644);
}

LastOrder FileStorage::lastOrder() const {
  LastOrder last;
  auto text = readText(path(kLastOrder));
  if (!text) return last;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return last;
  last.result = j.value("result", "");
  last.detail = j.value("detail", "");
  last.at = j.value("at", time_t{0});
  last.next_attempt = j.value("next_attempt", time_t{0});
  return last;
}

core::Result<bool> FileStorage::saveLastOrder(const LastOrder& last) const {
  nlohmann::ordered_json j{{"result", last.result},
                           {"detail", last.detail},
                           {"at", last.at},
                           {"next_attempt", last.next_attempt}};
  return writeFileAtomically(path(kLastOrder), j.dump() + "\n", 0644);
}

}  // namespace meridian::acme
