#include "certs/dev_ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs/openssl_util.h"
#include "core/file_read.h"

namespace meridian::certs {

namespace {

constexpr long kCaValidSeconds = 365L * 86400;

core::Error failure(const std::string& what) {
  return core::Error{core::ErrorKind::Internal, core::Side::Internal, false, what};
}

bool isIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

PkeyPtr generateKey(KeyKind kind) {
  if (kind == KeyKind::Rsa) return PkeyPtr(EVP_RSA_gen(2048));
  return PkeyPtr(EVP_EC_gen("P-256"));
}

bool addExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

std::string subjectAltName(const std::vector<std::string>& hosts) {
  std::string san;
  for (const auto& h : hosts) {
    if (!san.empty()) san += ",";
    san += (isIpLiteral(h) ? "IP:" : "DNS:") + h;
  }
  return san;
}

bool setSerialAndNames(X509* cert, const IssueRequest& r, X509* issuer) {
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), &BN_free);
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1) return false;
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) return false;
  std::string cn = !r.common_name.empty() ? r.common_name
                   : r.hosts.empty()      ? std::string("meridian")
                                          : r.hosts.front();
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("Meridian development"), -1, -1,
                             0);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1)
    return false;
  return X509_set_issuer_name(cert, X509_get_subject_name(issuer)) == 1;
}

// An ECDSA key only signs (the handshake's key exchange is ECDHE): keyEncipherment is for RSA
// key transport, and on an ECDSA certificate strict clients refuse it (RFC 5480, 3).
const char* leafKeyUsage(KeyKind key) {
  return key == KeyKind::Rsa ? "critical,digitalSignature,keyEncipherment"
                             : "critical,digitalSignature";
}

bool addExtensions(X509* cert, const IssueRequest& r, X509* issuer) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  bool ok = addExtension(cert, &ctx, NID_subject_key_identifier, "hash");
  if (issuer != cert) ok = ok && addExtension(cert, &ctx, NID_authority_key_identifier, "keyid");
  if (r.ca) {
    ok = ok && addExtension(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
         addExtension(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    ok = ok && addExtension(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
         addExtension(cert, &ctx, NID_key_usage, leafKeyUsage(r.key)) &&
         addExtension(cert, &ctx, NID_ext_key_usage, "serverAuth");
  }
  if (r.subject_alt_names && !r.hosts.empty())
    ok = ok && addExtension(cert, &ctx, NID_subject_alt_name, subjectAltName(r.hosts));
  return ok;
}

std::string certPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string keyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

bool parsePair(const PemPair& pem, X509Ptr& cert, PkeyPtr& key) {
  BioPtr cb(BIO_new_mem_buf(pem.cert.data(), static_cast<int>(pem.cert.size())));
  BioPtr kb(BIO_new_mem_buf(pem.key.data(), static_cast<int>(pem.key.size())));
  cert.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return cert && key && X509_check_private_key(cert.get(), key.get()) == 1;
}

core::Result<bool> writeFileMode(const std::string& path, const std::string& data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return failure(path + ": " + strerror(errno));
  // An existing file keeps its old mode through O_CREAT: a key must not stay world-readable.
  fchmod(fd, mode);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = strerror(errno);
      ::close(fd);
      return failure(path + ": " + why);
    }
    off += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return failure(path + ": " + strerror(errno));
  return true;
}

// "" when missing or unreadable: the CA is then made anew.
std::string readText(const std::string& path) {
  auto text = core::readRegularFile(path, core::kPemFileLimit);
  return text.ok() ? std::move(text.value()) : std::string();
}

// `dir/name` with one slash between, however `dir` was written ("certs/", "certs", "/").
std::string joinPath(const std::string& dir, const char* name) {
  size_t end = dir.find_last_not_of('/');
  if (end == std::string::npos) return (dir.empty() ? "" : "/") + std::string(name);
  return dir.substr(0, end + 1) + "/" + name;
}

}  // namespace

core::Result<PemPair> issueCertificate(const IssueRequest& r, const PemPair* issuer) {
  X509Ptr issuer_cert;
  PkeyPtr issuer_key;
  if (issuer != nullptr && !parsePair(*issuer, issuer_cert, issuer_key))
    return failure("issuer certificate or key unreadable");
  PkeyPtr key = generateKey(r.key);
  X509Ptr cert(X509_new());
  if (!key || !cert) return failure("key generation: " + takeOpenSslError());
  X509* signer = issuer_cert ? issuer_cert.get() : cert.get();
  EVP_PKEY* signing_key = issuer_key ? issuer_key.get() : key.get();
  bool ok = X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), r.not_before_seconds) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                            r.not_before_seconds + r.valid_seconds) != nullptr &&
            X509_set_pubkey(cert.get(), key.get()) == 1 &&
            setSerialAndNames(cert.get(), r, signer) && addExtensions(cert.get(), r, signer) &&
            X509_sign(cert.get(), signing_key, EVP_sha256()) > 0;
  if (!ok) return failure("issuing a certificate: " + takeOpenSslError());
  return PemPair{certPem(cert.get()), keyPem(key.get())};
}

core::Result<DevCertFiles> writeDevCertificates(const std::vector<std::string>& hosts,
                                                const std::string& dir, KeyKind leaf_key) {
  if (hosts.empty()) return failure("at least one host is required");
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return failure(dir + ": " + strerror(errno));
  DevCertFiles files{joinPath(dir, "ca.pem"), joinPath(dir, "ca.key"), joinPath(dir, "cert.pem"),
                     joinPath(dir, "key.pem")};
  // An existing CA is kept, so a browser or system store that already trusts it still does.
  PemPair ca{readText(files.ca_cert), readText(files.ca_key)};
  X509Ptr c;
  PkeyPtr k;
  files.reused_ca = !ca.cert.empty() && !ca.key.empty() && parsePair(ca, c, k);
  if (!files.reused_ca) {
    IssueRequest cr;
    cr.common_name = "Meridian development CA";
    cr.ca = true;
    cr.valid_seconds = kCaValidSeconds;
    auto issued = issueCertificate(cr, nullptr);
    if (!issued.ok()) return issued.error();
    ca = issued.value();
  }
  IssueRequest lr;
  lr.hosts = hosts;
  lr.key = leaf_key;
  auto leaf = issueCertificate(lr, &ca);
  if (!leaf.ok()) return leaf.error();
  for (auto r :
       {writeFileMode(files.ca_key, ca.key, 0600), writeFileMode(files.ca_cert, ca.cert, 0644),
        writeFileMode(files.key, leaf.value().key, 0600),
        writeFileMode(files.cert, leaf.value().cert + ca.cert, 0644)}) {
    if (!r.ok()) return r.error();
  }
  return files;
}

}  // namespace meridian::certs
