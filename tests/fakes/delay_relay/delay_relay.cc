// delay_relay: a TCP relay that plays a long network link, for the lab (loadtest/lab) on
// kernels without the netem qdisc. Run inside a region's namespace, it listens on the region's
// address and forwards each connection to the region's origin, holding every chunk for the
// link's one-way delay (plus jitter, within a bandwidth cap) in both directions, in order.
//
//   delay_relay --listen IP:PORT --origin IP:PORT --delay-ms N [--jitter-ms N] [--rate-kbps N]
//               [--backlog N] [--control FILE] [--health-path /healthz]
//
// The TCP handshake is not delayed (the relay accepts at once); request and response bytes are.
// Faults are switched at run time by writing one word to the control file (read every 100 ms):
//   none      the link as configured
//   stall     after the next response head on each connection, nothing more is sent back
//   slow      responses held 300 ms more
//   gray      half the requests, at random, answered 503 by the relay (not the health path)
//   noaccept  the listener stops accepting (the accept queue fills, then SYNs are dropped) and
//             open connections are closed
//   gone      the listener is closed (connects refused: RST) and open connections reset
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <random>
#include <set>
#include <string>

namespace {

struct Options {
  sockaddr_in listen{};
  sockaddr_in origin{};
  int delay_ms = 0;
  int jitter_ms = 0;
  int64_t rate_bps = 0;  // bytes per second, 0: no cap
  int backlog = 64;
  std::string control;
  std::string health_path = "/healthz";
};

enum class Mode { None, Stall, Slow, Gray, NoAccept, Gone };

Options opt;
Mode mode = Mode::None;
event_base* base = nullptr;
evconnlistener* listener = nullptr;
std::mt19937 rng{12345};

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Conn;

// One direction of the link: chunks waiting for their release time, in order.
struct Direction {
  Conn* conn = nullptr;
  bool to_client = false;
  std::deque<std::pair<int64_t, std::string>> queue;
  event* timer = nullptr;
  int64_t last_release = 0;
  bool source_closed = false;
};

struct Conn {
  bufferevent* client = nullptr;
  bufferevent* origin = nullptr;
  Direction up, down;  // up: client to origin; down: origin to client
  bool stalled = false;
  bool gray_closed = false;
};

std::set<Conn*> conns;

void freeConn(Conn* c, bool reset) {
  if (reset && c->client) {
    linger l{1, 0};  // close with RST, as a dead host's stack would answer
    setsockopt(bufferevent_getfd(c->client), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  if (c->up.timer) event_free(c->up.timer);
  if (c->down.timer) event_free(c->down.timer);
  if (c->client) bufferevent_free(c->client);
  if (c->origin) bufferevent_free(c->origin);
  conns.erase(c);
  delete c;
}

void arm(Direction& d) {
  if (d.queue.empty()) return;
  int64_t wait = std::max<int64_t>(0, d.queue.front().first - nowUs());
  timeval tv{static_cast<time_t>(wait / 1000000), static_cast<suseconds_t>(wait % 1000000)};
  evtimer_add(d.timer, &tv);
}

// Both sides done once a closed side's queued bytes have gone out.
void maybeFinish(Conn* c) {
  bool up_done = c->up.source_closed && c->up.queue.empty();
  bool down_done = c->down.source_closed && c->down.queue.empty();
  if (!up_done && !down_done) return;
  bufferevent* to = up_done ? c->origin : c->client;
  if (to && evbuffer_get_length(bufferevent_get_output(to)) > 0) return;  // write cb retries
  freeConn(c, false);
}

void push(Direction& d, std::string data, int extra_ms) {
  int64_t now = nowUs();
  int64_t jitter = opt.jitter_ms > 0 ? std::uniform_int_distribution<int>(0, opt.jitter_ms)(rng) : 0;
  int64_t release = now + (opt.delay_ms + extra_ms) * 1000 + jitter * 1000;
  if (opt.rate_bps > 0)
    release = std::max(release, d.last_release + static_cast<int64_t>(data.size()) * 1000000 /
                                                     opt.rate_bps);
  release = std::max(release, d.last_release);  // order kept whatever the jitter
  d.last_release = release;
  bool was_empty = d.queue.empty();
  d.queue.emplace_back(release, std::move(data));
  if (was_empty) arm(d);
}

void onTimer(evutil_socket_t, short, void* arg) {
  auto& d = *static_cast<Direction*>(arg);
  Conn* c = d.conn;
  int64_t now = nowUs();
  bufferevent* to = d.to_client ? c->client : c->origin;
  while (!d.queue.empty() && d.queue.front().first <= now) {
    if (to) bufferevent_write(to, d.queue.front().second.data(), d.queue.front().second.size());
    d.queue.pop_front();
  }
  if (c->gray_closed && d.to_client && d.queue.empty()) {
    d.source_closed = true;
  }
  arm(d);
  maybeFinish(c);
}

bool startsRequest(const std::string& s) {
  static const char* methods[] = {"GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH "};
  for (const char* m : methods)
    if (s.compare(0, strlen(m), m) == 0) return true;
  return false;
}

void onClientRead(bufferevent* bev, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  evbuffer* in = bufferevent_get_input(bev);
  std::string data(evbuffer_get_length(in), '\0');
  evbuffer_remove(in, data.data(), data.size());
  if (c->gray_closed) return;
  if (mode == Mode::Gray && startsRequest(data)) {
    size_t sp = data.find(' ');
    std::string path = data.substr(sp + 1, data.find(' ', sp + 1) - sp - 1);
    if (path != opt.health_path && std::uniform_int_distribution<int>(0, 1)(rng) == 1) {
      c->gray_closed = true;  // answered here; the origin never sees it
      push(c->down, "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n"
                    "connection: close\r\n\r\n", 0);
      return;
    }
  }
  push(c->up, std::move(data), 0);
}

void onOriginRead(bufferevent* bev, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  evbuffer* in = bufferevent_get_input(bev);
  std::string data(evbuffer_get_length(in), '\0');
  evbuffer_remove(in, data.data(), data.size());
  if (c->stalled || c->gray_closed) return;  // held for ever: the stalled region
  if (mode == Mode::Stall) {
    size_t end = data.find("\r\n\r\n");
    if (end != std::string::npos) {
      data.resize(end + 4);
      c->stalled = true;
    }
  }
  push(c->down, std::move(data), mode == Mode::Slow ? 300 : 0);
}

void onWrite(bufferevent*, void* arg) { maybeFinish(static_cast<Conn*>(arg)); }

void onClientEvent(bufferevent*, short what, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
    c->up.source_closed = true;
    c->down.queue.clear();  // nobody to send it to
    c->down.source_closed = true;
    maybeFinish(c);
  }
}

void onOriginEvent(bufferevent*, short what, void* arg) {
  Conn* c = static_cast<Conn*>(arg);
  if (what & BEV_EVENT_CONNECTED) return;
  if (what & BEV_EVENT_ERROR) {
    freeConn(c, true);  // the origin refused or reset: so does the link
    return;
  }
  if (what & BEV_EVENT_EOF) {
    if (c->stalled) return;  // a stalled region never closes either
    c->down.source_closed = true;
    maybeFinish(c);
  }
}

void onAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void*) {
  auto* c = new Conn;
  conns.insert(c);
  c->up.conn = c->down.conn = c;
  c->down.to_client = true;
  c->up.timer = evtimer_new(base, onTimer, &c->up);
  c->down.timer = evtimer_new(base, onTimer, &c->down);
  c->client = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
  c->origin = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  bufferevent_setcb(c->client, onClientRead, onWrite, onClientEvent, c);
  bufferevent_setcb(c->origin, onOriginRead, onWrite, onOriginEvent, c);
  bufferevent_enable(c->client, EV_READ | EV_WRITE);
  bufferevent_enable(c->origin, EV_READ | EV_WRITE);
  if (bufferevent_socket_connect(c->origin, reinterpret_cast<sockaddr*>(&opt.origin),
                                 sizeof opt.origin) != 0)
    freeConn(c, true);
}

void openListener() {
  if (listener) return;
  listener = evconnlistener_new_bind(base, onAccept, nullptr,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, opt.backlog,
                                     reinterpret_cast<sockaddr*>(&opt.listen), sizeof opt.listen);
  if (!listener) perror("delay_relay: listen");
}

void closeAll(bool reset) {
  while (!conns.empty()) freeConn(*conns.begin(), reset);
}

Mode parseMode(const std::string& w) {
  if (w == "stall") return Mode::Stall;
  if (w == "slow") return Mode::Slow;
  if (w == "gray") return Mode::Gray;
  if (w == "noaccept") return Mode::NoAccept;
  if (w == "gone") return Mode::Gone;
  return Mode::None;
}

void setMode(Mode m) {
  if (m == mode) return;
  if (mode == Mode::NoAccept && listener) evconnlistener_enable(listener);
  if (mode == Mode::Gone) openListener();
  mode = m;
  if (m == Mode::NoAccept) {
    if (listener) evconnlistener_disable(listener);
    closeAll(false);
  }
  if (m == Mode::Gone) {
    if (listener) evconnlistener_free(listener);
    listener = nullptr;
    closeAll(true);
  }
  fprintf(stderr, "delay_relay: mode %d\n", static_cast<int>(m));
}

void onControl(evutil_socket_t, short, void*) {
  std::ifstream f(opt.control);
  std::string word;
  if (f >> word) setMode(parseMode(word));
  else setMode(Mode::None);
}

bool parseAddr(const char* text, sockaddr_in& out) {
  std::string s(text);
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  out.sin_family = AF_INET;
  out.sin_port = htons(static_cast<uint16_t>(atoi(s.c_str() + colon + 1)));
  return inet_pton(AF_INET, s.substr(0, colon).c_str(), &out.sin_addr) == 1;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    const char* v = argv[i + 1];
    bool ok = true;
    if (k == "--listen") ok = parseAddr(v, opt.listen);
    else if (k == "--origin") ok = parseAddr(v, opt.origin);
    else if (k == "--delay-ms") opt.delay_ms = atoi(v);
    else if (k == "--jitter-ms") opt.jitter_ms = atoi(v);
    else if (k == "--rate-kbps") opt.rate_bps = atoll(v) * 1000 / 8;
    else if (k == "--backlog") opt.backlog = atoi(v);
    else if (k == "--control") opt.control = v;
    else if (k == "--health-path") opt.health_path = v;
    else ok = false;
    if (!ok) {
      fprintf(stderr, "delay_relay: bad argument %s %s\n", argv[i], v);
      return 2;
    }
  }
  if (opt.listen.sin_family == 0 || opt.origin.sin_family == 0) {
    fprintf(stderr, "usage: delay_relay --listen IP:PORT --origin IP:PORT --delay-ms N ...\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  base = event_base_new();
  openListener();
  if (!listener) return 1;
  event* control = nullptr;
  if (!opt.control.empty()) {
    control = event_new(base, -1, EV_PERSIST, onControl, nullptr);
    timeval tv{0, 100000};
    event_add(control, &tv);
  }
  event_base_dispatch(base);
  return 0;
}
