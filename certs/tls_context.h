#pragma once
// A TLS listener's server side: its certificates (chosen by SNI), protocol versions, ciphers,
// ALPN and session resumption, frozen. Built once per TLS listener per config snapshot; a
// reload builds new ones while connections keep the SSL they have. Only certs/ sees OpenSSL:
// this header hands out core::StreamTransport.
//
// Certificate choice: a server name equal to one of a certificate's DNS names wins, then a
// wildcard name (*.example.com covers exactly one label), else the first certificate.
// Entries with the same names and different key types (RSA and ECDSA) are served together:
// the client's signature algorithms pick one.
//
// ACME names (tls.acme.domains) come before the files: a handshake naming one is served the
// certificate the book holds for it, and refused (alert unrecognized_name) until one is
// issued; a handshake offering ALPN acme-tls/1 for a name under validation gets the book's
// challenge certificate (RFC 8737).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/error.h"
#include "core/stream_transport.h"

namespace meridian::certs {

class AcmeBook;

struct TlsOptions {
  std::string listener;  // for error messages
  config::Tls tls;
  // The ALPN protocols offered, in server preference order (config `protocols` less what the
  // proxy does not speak yet).
  std::vector<std::string> alpn;
  // The config file `tls` was read from: errors about a certificate or key file then start
  // with "CONFIG:LINE:COL: ", the place that names the file. Empty: no position.
  std::string config_file;
  // Where ACME certificates and challenges are found (tls.acme); null: AcmeBook::process().
  std::shared_ptr<AcmeBook> acme;
};

class TlsContext : public std::enable_shared_from_this<TlsContext> {
 public:
  // Reads and checks every certificate and key. Errors read
  // "CONFIG:LINE:COL: listener NAME: FILE: message" (no position without config_file).
  static core::Result<std::shared_ptr<const TlsContext>> build(const TlsOptions& options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // The server side of a fresh connection on `fd` (the fd stays the Stream's). Holds this
  // context alive for as long as it lives. nullptr only when OpenSSL is out of memory.
  std::unique_ptr<core::StreamTransport> newTransport(int fd) const;

  // The index (in options.tls.certificates) of the first certificate a handshake naming
  // `server_name` is served ("" = no SNI).
  size_t select(std::string_view server_name) const;

  struct Impl;

 private:
  TlsContext();
  std::unique_ptr<Impl> impl_;
};

}  // namespace meridian::certs
