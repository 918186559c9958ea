// The TLS transport's idle memory: releaseBuffers gives back both record buffers of an idle
// connection (read ahead is on, so the read buffer may hold the start of the next record: then
// nothing may go, and it goes once that record is read), and the connection works after.
// Heap use is read from glibc (mallinfo2); the client is a real OpenSSL client whose output
// goes through a memory BIO, so the test decides how much of a record reaches the socket.
#include <gtest/gtest.h>
#include <malloc.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "certs/dev_ca.h"
#include "certs/tls_context.h"
#include "core/buffer.h"
#include "tests/fakes/subprocess.h"

namespace meridian::certs {
namespace {

using core::IoStatus;

#ifdef MERIDIAN_SANITIZED
constexpr bool kCheckMemory = false;  // the sanitizer's allocator is not glibc's: only behaviour
#else
constexpr bool kCheckMemory = true;
#endif

constexpr char kRequest[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

// Two record buffers (16 KiB of payload each, plus header and overhead room) at least.
constexpr long long kBothBuffers = 2 * 16 * 1024;

long long heapInUse() {
  return static_cast<long long>(mallinfo2().uordblks);
}

class TlsTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IssueRequest r;
    r.hosts = {"localhost"};
    auto issued = issueCertificate(r, nullptr);
    ASSERT_TRUE(issued.ok()) << issued.error().detail;
    TlsOptions o;
    o.listener = "public";
    config::TlsCertificate c;
    c.cert = dir_.write("leaf.pem", issued.value().cert);
    c.key = dir_.write("leaf.key", issued.value().key);
    o.tls.certificates = {c};
    o.alpn = {"http/1.1"};
    auto ctx = TlsContext::build(o);
    ASSERT_TRUE(ctx.ok()) << ctx.error().detail;
    ctx_ = ctx.value();

    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
    server_ = ctx_->newTransport(fds_[0]);
    ASSERT_NE(server_, nullptr);
    cctx_ = SSL_CTX_new(TLS_client_method());
    client_ = SSL_new(cctx_);
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(client_, BIO_new_socket(fds_[1], BIO_NOCLOSE), out_);
    SSL_set_connect_state(client_);
  }

  void TearDown() override {
    server_.reset();
    if (client_ != nullptr) SSL_free(client_);
    if (cctx_ != nullptr) SSL_CTX_free(cctx_);
    for (int fd : fds_)
      if (fd >= 0) close(fd);
  }

  // Sends up to `max` of the client's pending ciphertext to the server's socket.
  void sendClientBytes(size_t max = SIZE_MAX) {
    char buf[4096];
    while (max > 0 && BIO_ctrl_pending(out_) > 0) {
      int n = BIO_read(out_, buf, static_cast<int>(std::min(sizeof buf, max)));
      ASSERT_GT(n, 0);
      ASSERT_EQ(write(fds_[1], buf, static_cast<size_t>(n)), n);
      max -= static_cast<size_t>(n);
    }
  }

  ::testing::AssertionResult handshake() {
    bool client_done = false, server_done = false;
    for (int i = 0; i < 200 && !(client_done && server_done); ++i) {
      if (!client_done) {
        int rc = SSL_do_handshake(client_);
        if (rc == 1)
          client_done = true;
        else if (SSL_get_error(client_, rc) != SSL_ERROR_WANT_READ)
          return ::testing::AssertionFailure() << "client handshake failed";
        sendClientBytes();
      }
      if (!server_done) {
        IoStatus st = server_->handshake();
        if (st == IoStatus::Ok)
          server_done = true;
        else if (st != IoStatus::WantRead && st != IoStatus::WantWrite)
          return ::testing::AssertionFailure() << "server handshake: " << server_->lastError();
      }
    }
    if (!(client_done && server_done)) return ::testing::AssertionFailure() << "no handshake";
    return ::testing::AssertionSuccess();
  }

  // The client's request, as one record, queued in its memory BIO (not sent yet).
  void queueRequest() {
    ASSERT_EQ(SSL_write(client_, kRequest, sizeof kRequest - 1),
              static_cast<int>(sizeof kRequest - 1));
  }

  // The server reads the whole request and answers; the client reads the answer.
  ::testing::AssertionResult serveRequest() {
    core::Buffer in;
    size_t got = 0;
    IoStatus st = server_->read(in, 16384, got);
    if (st != IoStatus::Ok || in.size() != sizeof kRequest - 1)
      return ::testing::AssertionFailure() << "server read " << in.size() << " bytes";
    core::Buffer out;
    out.append("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    if (server_->write(out) != IoStatus::Ok) return ::testing::AssertionFailure() << "write";
    char buf[256];
    int n = 0;
    // TLS 1.3 tickets come first; SSL_read goes past them to the answer.
    for (int i = 0; i < 20 && n <= 0; ++i) n = SSL_read(client_, buf, sizeof buf);
    if (std::string(buf, n > 0 ? n : 0).find("200 OK") == std::string::npos)
      return ::testing::AssertionFailure() << "client read " << n;
    return ::testing::AssertionSuccess();
  }

  fakes::TempDir dir_{"tls-transport"};
  std::shared_ptr<const TlsContext> ctx_;
  int fds_[2] = {-1, -1};
  std::unique_ptr<core::StreamTransport> server_;
  SSL_CTX* cctx_ = nullptr;
  SSL* client_ = nullptr;
  BIO* out_ = nullptr;  // owned by client_
};

TEST_F(TlsTransportTest, ReleaseBuffersGivesBackBothRecordBuffersOfAnIdleConnection) {
  ASSERT_TRUE(handshake());
  queueRequest();
  sendClientBytes();
  ASSERT_TRUE(serveRequest());

  long long busy = heapInUse();
  server_->releaseBuffers();
  long long idle = heapInUse();
  if (kCheckMemory) {
    EXPECT_GE(busy - idle, kBothBuffers) << "freed " << busy - idle << " bytes";
  }
  server_->releaseBuffers();  // nothing more to give back, and no harm
  if (kCheckMemory) {
    EXPECT_EQ(heapInUse(), idle);
  }

  // The connection goes on as before, and the buffers come back as it does.
  queueRequest();
  sendClientBytes();
  ASSERT_TRUE(serveRequest());
  if (kCheckMemory) {
    EXPECT_GE(heapInUse() - idle, kBothBuffers);
  }
}

TEST_F(TlsTransportTest, APartlyReceivedRecordKeepsTheBuffersUntilItIsRead) {
  ASSERT_TRUE(handshake());
  queueRequest();
  sendClientBytes();
  ASSERT_TRUE(serveRequest());

  // The next request's record arrives in two parts; the first is read ahead into the SSL.
  queueRequest();
  sendClientBytes(20);
  core::Buffer in;
  size_t got = 0;
  ASSERT_EQ(server_->read(in, 16384, got), IoStatus::WantRead);
  EXPECT_TRUE(server_->hasPending());
  long long before = heapInUse();
  server_->releaseBuffers();  // refused: the read buffer holds part of a record
  if (kCheckMemory) {
    EXPECT_LT(before - heapInUse(), 1024);
  }

  sendClientBytes();
  ASSERT_TRUE(serveRequest());
  before = heapInUse();
  server_->releaseBuffers();
  if (kCheckMemory) {
    EXPECT_GE(before - heapInUse(), kBothBuffers);
  }
  queueRequest();  // and the connection goes on
  sendClientBytes();
  EXPECT_TRUE(serveRequest());
}

}  // namespace
}  // namespace meridian::certs
