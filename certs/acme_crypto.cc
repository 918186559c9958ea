#include "certs/acme_crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rand.h>

#include "certs/openssl_util.h"

namespace meridian::certs {

struct EcKey::Impl {
  PkeyPtr key;
};

namespace {

core::Error failure(const std::string& what) {
  return core::Error{core::ErrorKind::Internal, core::Side::Internal, false,
                     what + ": " + takeOpenSslError()};
}

using BnPtr = std::unique_ptr<BIGNUM, decltype(&BN_free)>;

std::string bnBytes(const BIGNUM* bn, int width) {
  std::string out(static_cast<size_t>(width), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), width);
  return out;
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

time_t asn1Time(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return timegm(&tm);
}

bool addExtension(STACK_OF(X509_EXTENSION) * exts, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, nid, value.c_str());
  return ext != nullptr && sk_X509_EXTENSION_push(exts, ext) > 0;
}

std::string sanOf(const std::vector<std::string>& domains) {
  std::string san;
  for (const auto& d : domains) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  return san;
}

bool setName(X509_NAME* name, const std::string& cn) {
  return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                    0) == 1;
}

}  // namespace

std::string base64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> base64urlDecode(std::string_view text) {
  std::string std64(text);
  for (char& c : std64) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/' || c == '=')
      return std::nullopt;
  }
  if (std64.size() % 4 == 1) return std::nullopt;
  size_t pad = (4 - std64.size() % 4) % 4;
  std64.append(pad, '=');
  std::string out(std64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(std64.data()),
                          static_cast<int>(std64.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string sha256(std::string_view bytes) {
  std::string out(32, '\0');
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
             EVP_sha256(), nullptr);
  return out;
}

std::string jwkThumbprint(std::string_view canonical_jwk) {
  return base64url(sha256(canonical_jwk));
}

core::Result<EcKey> EcKey::generate() {
  auto impl = std::make_shared<Impl>();
  impl->key.reset(EVP_EC_gen("P-256"));
  if (!impl->key) return failure("generating a P-256 key");
  return EcKey(std::move(impl));
}

core::Result<EcKey> EcKey::fromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  auto impl = std::make_shared<Impl>();
  ERR_clear_error();
  impl->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!impl->key) return failure("reading a PEM private key");
  char group[32] = {};
  size_t len = 0;
  if (EVP_PKEY_get_base_id(impl->key.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(impl->key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group,
                                     sizeof group, &len) != 1 ||
      std::string_view(group) != "prime256v1") {
    return core::Error{core::ErrorKind::ConfigInvalid, core::Side::Internal, false,
                       "not an ECDSA P-256 key"};
  }
  return EcKey(std::move(impl));
}

std::string EcKey::pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return bioText(bio.get());
}

std::string EcKey::jwk() const {
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  EVP_PKEY_get_bn_param(impl_->key.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x);
  EVP_PKEY_get_bn_param(impl_->key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y);
  BnPtr xp(x, &BN_free), yp(y, &BN_free);
  return R"({"crv":"P-256","kty":"EC","x":")" + base64url(bnBytes(x, 32)) + R"(","y":")" +
         base64url(bnBytes(y, 32)) + R"("})";
}

core::Result<std::string> EcKey::signEs256(std::string_view input) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  size_t len = 0;
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1)
    return failure("ES256 signature");
  std::string der(len, '\0');
  if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(der.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return failure("ES256 signature");
  // OpenSSL writes the DER SEQUENCE of r and s; JWS wants both as fixed 32-byte integers.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)), &ECDSA_SIG_free);
  if (!sig) return failure("ES256 signature");
  return bnBytes(ECDSA_SIG_get0_r(sig.get()), 32) + bnBytes(ECDSA_SIG_get0_s(sig.get()), 32);
}

core::Result<std::string> makeCsr(const EcKey& key, const std::vector<std::string>& domains) {
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), &X509_REQ_free);
  std::unique_ptr<STACK_OF(X509_EXTENSION), void (*)(STACK_OF(X509_EXTENSION)*)> exts(
      sk_X509_EXTENSION_new_null(),
      [](STACK_OF(X509_EXTENSION) * s) { sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free); });
  EVP_PKEY* pkey = key.impl().key.get();
  bool ok = req && exts && !domains.empty() && X509_REQ_set_version(req.get(), 0) == 1 &&
            setName(X509_REQ_get_subject_name(req.get()), domains.front()) &&
            addExtension(exts.get(), NID_subject_alt_name, sanOf(domains)) &&
            X509_REQ_add_extensions(req.get(), exts.get()) == 1 &&
            X509_REQ_set_pubkey(req.get(), pkey) == 1 &&
            X509_REQ_sign(req.get(), pkey, EVP_sha256()) > 0;
  if (!ok) return failure("making the CSR");
  int len = i2d_X509_REQ(req.get(), nullptr);
  std::string der(static_cast<size_t>(len), '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509_REQ(req.get(), &out);
  return der;
}

core::Result<PemPair> tlsAlpnCertificate(const std::string& domain,
                                         const std::string& key_authorization) {
  auto key = EcKey::generate();
  if (!key.ok()) return key.error();
  EVP_PKEY* pkey = key.value().impl().key.get();
  X509Ptr cert(X509_new());
  // The extension's value is the DER of an OCTET STRING holding the digest (RFC 8737, 3).
  std::string digest = sha256(key_authorization);
  std::string value = std::string("\x04\x20", 2) + digest;
  std::unique_ptr<ASN1_OCTET_STRING, decltype(&ASN1_OCTET_STRING_free)> octets(
      ASN1_OCTET_STRING_new(), &ASN1_OCTET_STRING_free);
  std::unique_ptr<ASN1_OBJECT, decltype(&ASN1_OBJECT_free)> oid(
      OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1), &ASN1_OBJECT_free);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  std::unique_ptr<BIGNUM, decltype(&BN_free)> sn(BN_bin2bn(serial, sizeof serial, nullptr),
                                                 &BN_free);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, ("DNS:" + domain).c_str());
  bool ok =
      cert && octets && oid && sn && san &&
      ASN1_OCTET_STRING_set(octets.get(), reinterpret_cast<const unsigned char*>(value.data()),
                            static_cast<int>(value.size())) == 1 &&
      X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
      BN_to_ASN1_INTEGER(sn.get(), X509_get_serialNumber(cert.get())) != nullptr &&
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -86400) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 86400) != nullptr &&
      setName(X509_get_subject_name(cert.get()), domain) &&
      X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) == 1 &&
      X509_set_pubkey(cert.get(), pkey) == 1 && X509_add_ext(cert.get(), san, -1) == 1;
  X509_EXTENSION_free(san);
  if (ok) {
    X509_EXTENSION* id =
        X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 1 /* critical */, octets.get());
    ok = id != nullptr && X509_add_ext(cert.get(), id, -1) == 1 &&
         X509_sign(cert.get(), pkey, EVP_sha256()) > 0;
    X509_EXTENSION_free(id);
  }
  if (!ok) return failure("making the TLS-ALPN-01 certificate");
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert.get());
  return PemPair{bioText(bio.get()), key.value().pem()};
}

core::Result<CertificateFacts> certificateFacts(std::string_view chain_pem) {
  BioPtr bio(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
  ERR_clear_error();
  X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!leaf) return failure("reading the certificate");
  CertificateFacts f;
  f.not_before = asn1Time(X509_get0_notBefore(leaf.get()));
  f.not_after = asn1Time(X509_get0_notAfter(leaf.get()));
  const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf.get());
  BnPtr bn(ASN1_INTEGER_to_BN(serial, nullptr), &BN_free);
  if (bn) {
    char* hex = BN_bn2hex(bn.get());
    f.serial_hex = hex;
    OPENSSL_free(hex);
  }
  std::unique_ptr<GENERAL_NAMES, OpenSslFree> sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(leaf.get(), NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type != GEN_DNS) continue;
    f.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                         static_cast<size_t>(ASN1_STRING_length(gn->d.dNSName)));
  }
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(leaf.get());
  if (aki != nullptr) {
    std::string id(reinterpret_cast<const char*>(ASN1_STRING_get0_data(aki)),
                   static_cast<size_t>(ASN1_STRING_length(aki)));
    // The serial's DER content octets: a leading zero when the high bit is set.
    std::string sn(reinterpret_cast<const char*>(ASN1_STRING_get0_data(serial)),
                   static_cast<size_t>(ASN1_STRING_length(serial)));
    if (!sn.empty() && (static_cast<unsigned char>(sn[0]) & 0x80)) sn.insert(0, 1, '\0');
    f.ari_id = base64url(id) + "." + base64url(sn);
  }
  ERR_clear_error();
  return f;
}

}  // namespace meridian::certs
