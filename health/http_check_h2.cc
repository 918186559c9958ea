// HttpCheck, continued: the check of an HTTP/2 cluster (h2c, or h2 by ALPN), whose endpoints
// may not speak HTTP/1.1 at all (nghttpd, gRPC servers). One GET on a connection of its own,
// as the HTTP/1.1 check: a 2xx whose stream ends within the timeout passes.
#include <nghttp2/nghttp2.h>

#include "health/http_check.h"

namespace meridian::health {

struct HttpCheck::H2 {
  nghttp2_session* session = nullptr;
  core::Stream* stream = nullptr;
  int32_t id = 0;
  int status = 0;
  ~H2() { nghttp2_session_del(session); }
};

void HttpCheck::startH2(core::Stream& s) {
  endH2();
  h2s_ = new H2();
  h2s_->stream = &s;
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(
      cbs, [](nghttp2_session*, const uint8_t* data, size_t len, int, void* ud) -> ssize_t {
        static_cast<H2*>(ud)->stream->output().append(data, len);
        return static_cast<ssize_t>(len);
      });
  nghttp2_session_callbacks_set_on_header_callback(
      cbs,
      [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t namelen,
         const uint8_t* value, size_t valuelen, uint8_t, void* ud) -> int {
        auto* h = static_cast<H2*>(ud);
        if (f->hd.stream_id != h->id || f->hd.type != NGHTTP2_HEADERS) return 0;
        std::string_view n(reinterpret_cast<const char*>(name), namelen);
        if (n == ":status" && valuelen == 3) {
          h->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
        }
        return 0;
      });
  nghttp2_session_client_new(&h2s_->session, cbs, h2s_);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_submit_settings(h2s_->session, NGHTTP2_FLAG_NONE, nullptr, 0);
  auto nv = [](std::string_view name, std::string_view value) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                      value.size(), NGHTTP2_NV_FLAG_NONE};
  };
  nghttp2_nv head[] = {
      nv(":method", "GET"), nv(":scheme", tls_.context != nullptr ? "https" : "http"),
      nv(":authority", host_), nv(":path", path_), nv("user-agent", "meridian-health")};
  h2s_->id = nghttp2_submit_request(h2s_->session, nullptr, head, sizeof head / sizeof head[0],
                                    nullptr, nullptr);
  if (!flushH2(s)) return;
  if (!s.input().empty()) onH2Data(s);
}

bool HttpCheck::flushH2(core::Stream& s) {
  if (nghttp2_session_send(h2s_->session) != 0) {
    finish(false, "check failed: HTTP/2 send");
    return false;
  }
  if (!s.flush()) {
    onError(s, errno);
    return false;
  }
  return true;
}

void HttpCheck::onH2Data(core::Stream& s) {
  core::Buffer& in = s.input();
  if (h2s_ == nullptr) {
    in.clear();
    return;
  }
  while (!in.empty()) {
    std::string_view f = in.front();
    ssize_t n = nghttp2_session_mem_recv(h2s_->session, reinterpret_cast<const uint8_t*>(f.data()),
                                         f.size());
    if (n < 0) return finish(false, "check failed: HTTP/2 protocol error");
    in.drain(static_cast<size_t>(n));
  }
  H2& h = *h2s_;
  if (h.status >= 300) return finish(false, "check failed: status " + std::to_string(h.status));
  // The stream is gone from the session once both ends closed: the whole response is in.
  if (h.status >= 200 && nghttp2_session_find_stream(h.session, h.id) == nullptr)
    return finish(true, "check passed");
  if (nghttp2_session_get_stream_remote_close(h.session, h.id) == 1 && h.status == 0)
    return finish(false, "check failed: no status");
  flushH2(s);  // SETTINGS ACK, WINDOW_UPDATE
}

void HttpCheck::endH2() {
  delete h2s_;
  h2s_ = nullptr;
}

}  // namespace meridian::health
