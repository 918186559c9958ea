#pragma once
// Session ticket keys, one set for the whole process: every worker and every listener's
// context encrypts with the same current key, so a client resumes on whichever worker its
// next connection lands, and a certificate reload (new contexts) does not void its ticket.
// Keys rotate lazily, on the first handshake after the interval, under a mutex; the previous
// key still decrypts (and the ticket is then renewed) for one more interval.
#include <openssl/ssl.h>

#include <chrono>

namespace meridian::certs {

inline constexpr std::chrono::seconds kTicketKeyInterval{3600};

// For SSL_CTX_set_tlsext_ticket_key_evp_cb.
int ticketKeyCallback(SSL* ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                      EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt);

// Makes a new current key now (the old one becomes the previous). Thread-safe.
void rotateTicketKeys();

}  // namespace meridian::certs
