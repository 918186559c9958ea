#include "certs/certificate.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "core/file_read.h"

namespace meridian::certs {

namespace {

core::Error fileError(const std::string& path, const std::string& message) {
  return core::Error{core::ErrorKind::ConfigInvalid, core::Side::Internal, false,
                     path + ": " + message};
}

// Read whole: PEM files are small, and a path naming a FIFO or /dev/zero is refused (it would
// block or never end) rather than read.
bool readWhole(const std::string& path, std::string& out, std::string& why) {
  auto text = core::readRegularFile(path, core::kPemFileLimit);
  if (!text.ok()) {
    why = text.error().detail;
    return false;
  }
  out = std::move(text.value());
  return true;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string timeText(const ASN1_TIME* t) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(bio.get(), t);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::vector<std::string> dnsNames(X509* leaf) {
  std::vector<std::string> names;
  std::unique_ptr<GENERAL_NAMES, OpenSslFree> sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
      if (gn->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = gn->d.dNSName;
      names.push_back(lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                        static_cast<size_t>(ASN1_STRING_length(s)))));
    }
    return names;
  }
  X509_NAME* subject = X509_get_subject_name(leaf);
  int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at >= 0) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    names.push_back(lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                                      static_cast<size_t>(ASN1_STRING_length(cn)))));
  }
  return names;
}

core::Result<bool> parseChain(const std::string& path, const std::string& pem,
                              LoadedCertificate& out) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  ERR_clear_error();
  out.leaf.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!out.leaf) return fileError(path, "no PEM certificate found");
  out.chain.reset(sk_X509_new_null());
  while (X509* next = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(out.chain.get(), next);
  }
  // The loop ends on "no start line" at the end of the file: not an error.
  ERR_clear_error();
  return true;
}

core::Result<bool> parseKey(const std::string& path, std::string pem, LoadedCertificate& out) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  ERR_clear_error();
  out.key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!out.key) return fileError(path, "no PEM private key found (" + takeOpenSslError() + ")");
  switch (EVP_PKEY_get_base_id(out.key.get())) {
    case EVP_PKEY_RSA:
      out.key_type = KeyType::Rsa;
      break;
    case EVP_PKEY_EC:
      out.key_type = KeyType::Ecdsa;
      break;
    default:
      out.key_type = KeyType::Other;
  }
  return true;
}

core::Result<LoadedCertificate> check(LoadedCertificate out, const std::string& cert_path,
                                      const std::string& key_path, time_t now) {
  ERR_clear_error();
  if (X509_check_private_key(out.leaf.get(), out.key.get()) != 1) {
    ERR_clear_error();
    return fileError(cert_path, "certificate does not match the private key in " + key_path);
  }
  const ASN1_TIME* not_before = X509_get0_notBefore(out.leaf.get());
  const ASN1_TIME* not_after = X509_get0_notAfter(out.leaf.get());
  if (X509_cmp_time(not_before, &now) > 0)
    return fileError(cert_path, "certificate is not valid before " + timeText(not_before));
  if (X509_cmp_time(not_after, &now) < 0)
    return fileError(cert_path, "certificate expired on " + timeText(not_after));
  out.names = dnsNames(out.leaf.get());
  return out;
}

}  // namespace

core::Result<LoadedCertificate> loadCertificate(const std::string& cert_path,
                                                const std::string& key_path, time_t now,
                                                bool* key_at_fault) {
  LoadedCertificate out;
  if (key_at_fault) *key_at_fault = false;
  std::string pem, why;
  if (!readWhole(cert_path, pem, why)) return fileError(cert_path, why);
  if (auto r = parseChain(cert_path, pem, out); !r.ok()) return r.error();
  auto key_error = [&](core::Error e) {
    if (key_at_fault) *key_at_fault = true;
    return e;
  };
  if (!readWhole(key_path, pem, why)) return key_error(fileError(key_path, why));
  if (auto r = parseKey(key_path, std::move(pem), out); !r.ok()) return key_error(r.error());
  return check(std::move(out), cert_path, key_path, now);
}

core::Result<LoadedCertificate> parseCertificate(const std::string& chain_pem,
                                                 const std::string& key_pem, time_t now,
                                                 const std::string& what) {
  LoadedCertificate out;
  if (auto r = parseChain(what, chain_pem, out); !r.ok()) return r.error();
  if (auto r = parseKey(what, key_pem, out); !r.ok()) return r.error();
  return check(std::move(out), what, what + " key", now);
}

}  // namespace meridian::certs
