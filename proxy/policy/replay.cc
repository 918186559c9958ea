#include "proxy/policy/replay.h"

#include <algorithm>
#include <array>
#include <cassert>

#include "core/grpc.h"

namespace meridian::proxy::replay {

namespace {

using std::chrono::milliseconds;

// Every status label as text, built at compile time, so reasonLabel never allocates and the
// views it hands out live as long as the process.
struct StatusLabels {
  char text[1000][4];
};

constexpr StatusLabels makeStatusLabels() {
  StatusLabels labels{};
  for (int i = 0; i < 1000; ++i) {
    labels.text[i][0] = static_cast<char>('0' + i / 100);
    labels.text[i][1] = static_cast<char>('0' + i / 10 % 10);
    labels.text[i][2] = static_cast<char>('0' + i % 10);
    labels.text[i][3] = '\0';
  }
  return labels;
}

constexpr StatusLabels kStatusLabels = makeStatusLabels();

// RFC 9111 1.2.2: a delta too large to represent is taken as 2^31 seconds.
constexpr int64_t kMaxDeltaSeconds = int64_t{1} << 31;

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

bool isSpace(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// tchar of RFC 9110 5.6.2: what a region name may be made of.
bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), isTokenChar);
}

Decision giveUp(const char* why) {
  return Decision{Verdict::GiveUp, why};
}

// A strict left-to-right reader for the three HTTP-date forms.
class DateCursor {
 public:
  explicit DateCursor(std::string_view s) : s_(s) {}

  bool literal(std::string_view text) {
    if (s_.substr(pos_, text.size()) != text) return false;
    pos_ += text.size();
    return true;
  }
  bool number(size_t digits, int& out) {
    if (pos_ + digits > s_.size()) return false;
    int v = 0;
    for (size_t i = 0; i < digits; ++i) {
      char c = s_[pos_ + i];
      if (!isDigit(c)) return false;
      v = v * 10 + (c - '0');
    }
    pos_ += digits;
    out = v;
    return true;
  }
  // One of `names` (case-sensitive, as RFC 9110 5.6.7 says); its index in `out`.
  template <size_t N>
  bool oneOf(const std::array<std::string_view, N>& names, int& out) {
    for (size_t i = 0; i < N; ++i) {
      if (literal(names[i])) {
        out = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  bool timeOfDay(int& h, int& m, int& s) {
    return number(2, h) && literal(":") && number(2, m) && literal(":") && number(2, s) &&
           h <= 23 && m <= 59 && s <= 60;  // 60: a leap second
  }
  bool atEnd() const { return pos_ == s_.size(); }
  void rewind() { pos_ = 0; }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct DateParts {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

std::optional<int64_t> toEpochSeconds(const DateParts& p) {
  using namespace std::chrono;
  year_month_day ymd{year{p.year}, month{static_cast<unsigned>(p.month + 1)},
                     day{static_cast<unsigned>(p.day)}};
  if (!ymd.ok()) return std::nullopt;
  int64_t days = sys_days{ymd}.time_since_epoch().count();
  return days * 86400 + p.hour * 3600 + p.minute * 60 + p.second;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
bool parseImfFixdate(DateCursor& c, DateParts& p) {
  int ignored = 0;
  return c.oneOf(kDays, ignored) && c.literal(", ") && c.number(2, p.day) && c.literal(" ") &&
         c.oneOf(kMonths, p.month) && c.literal(" ") && c.number(4, p.year) && c.literal(" ") &&
         c.timeOfDay(p.hour, p.minute, p.second) && c.literal(" GMT") && c.atEnd();
}

// Obsolete RFC 850 form: "Sunday, 06-Nov-94 08:49:37 GMT". A two-digit year more than 50
// years ahead of `now` is in the past century (RFC 9110 5.6.7).
bool parseRfc850(DateCursor& c, std::time_t now, DateParts& p) {
  int ignored = 0;
  int yy = 0;
  if (!(c.oneOf(kLongDays, ignored) && c.literal(", ") && c.number(2, p.day) && c.literal("-") &&
        c.oneOf(kMonths, p.month) && c.literal("-") && c.number(2, yy) && c.literal(" ") &&
        c.timeOfDay(p.hour, p.minute, p.second) && c.literal(" GMT") && c.atEnd())) {
    return false;
  }
  std::tm tm{};
  gmtime_r(&now, &tm);
  int this_year = tm.tm_year + 1900;
  p.year = this_year - this_year % 100 + yy;
  if (p.year > this_year + 50) p.year -= 100;
  return true;
}

// Obsolete asctime form: "Sun Nov  6 08:49:37 1994".
bool parseAsctime(DateCursor& c, DateParts& p) {
  int ignored = 0;
  if (!(c.oneOf(kDays, ignored) && c.literal(" ") && c.oneOf(kMonths, p.month) && c.literal(" "))) {
    return false;
  }
  bool day_ok = c.literal(" ") ? c.number(1, p.day) : c.number(2, p.day);
  return day_ok && c.literal(" ") && c.timeOfDay(p.hour, p.minute, p.second) && c.literal(" ") &&
         c.number(4, p.year) && c.atEnd();
}

std::optional<int64_t> parseHttpDate(std::string_view value, std::time_t now) {
  DateCursor c(value);
  DateParts p;
  if (parseImfFixdate(c, p)) return toEpochSeconds(p);
  c.rewind();
  p = DateParts{};
  if (parseRfc850(c, now, p)) return toEpochSeconds(p);
  c.rewind();
  p = DateParts{};
  if (parseAsctime(c, p)) return toEpochSeconds(p);
  return std::nullopt;
}

std::optional<int64_t> parseDeltaSeconds(std::string_view value) {
  int64_t v = 0;
  for (char ch : value) {
    if (!isDigit(ch)) return std::nullopt;
    v = std::min(v * 10 + (ch - '0'), kMaxDeltaSeconds);
  }
  return v;
}

}  // namespace

std::string_view reasonLabel(const Failure& f) {
  switch (f.reason) {
    case Reason::ConnectFailure:
      return "connect_failure";
    case Reason::Reset:
      return "reset";
    case Reason::Timeout:
      return "timeout";
    case Reason::Status:
      if (f.status >= 100 && f.status <= 999) return kStatusLabels.text[f.status];
      return "unknown";
    case Reason::GrpcStatus:
      if (const char* name = core::grpc::codeName(f.status)) return name;
      return "unknown";
  }
  return "unknown";
}

bool enabledFor(const config::Replay& policy, const Failure& f) {
  std::string_view label = reasonLabel(f);
  return std::find(policy.on.begin(), policy.on.end(), label) != policy.on.end();
}

Decision decide(const config::Replay& policy, const Input& in) {
  if (in.response_started) return giveUp("response_started");
  if (in.attempts >= policy.max_attempts) return giveUp("max_attempts");
  if (in.time_left && in.wait >= *in.time_left) return giveUp("deadline");
  if (!in.next_target) return giveUp("no_target");
  // Nothing reached the upstream, so sending it elsewhere cannot repeat a side effect.
  if (in.failure.reason == Reason::ConnectFailure) return {Verdict::TryNext, "connect_failure"};
  if (!enabledFor(policy, in.failure)) return giveUp("not_enabled");
  bool listed =
      std::find(policy.methods.begin(), policy.methods.end(), in.method) != policy.methods.end();
  if (!listed && !in.has_idempotency_key) return giveUp("not_idempotent");
  if (!in.body_buffered) return giveUp("body_not_buffered");
  if (!in.budget_available) return giveUp("budget");
  return {Verdict::TryNext, "replayable"};
}

Decision hedgeable(const config::Replay& policy, const Input& in) {
  if (!policy.hedge.enabled()) return giveUp("off");
  if (in.response_started) return giveUp("response_started");
  if (in.attempts >= policy.max_attempts) return giveUp("max_attempts");
  if (in.time_left && in.time_left->count() <= 0) return giveUp("deadline");
  if (!in.next_target) return giveUp("no_target");
  bool listed =
      std::find(policy.methods.begin(), policy.methods.end(), in.method) != policy.methods.end();
  if (!listed && !in.has_idempotency_key) return giveUp("not_idempotent");
  if (!in.body_buffered) return giveUp("body_not_buffered");
  if (!in.budget_available) return giveUp("budget");
  return {Verdict::TryNext, "hedge"};
}

milliseconds backoff(const config::Replay& policy, int replay, uint64_t random) {
  int64_t base = policy.backoff_base.count();
  int64_t cap = policy.backoff_max.count();
  if (base <= 0 || cap <= 0) return milliseconds(0);
  int shift = std::clamp(replay - 1, 0, 62);
  // base * 2^shift, compared without overflowing: it is within cap iff base <= cap >> shift.
  int64_t ceiling = base <= (cap >> shift) ? base << shift : cap;
  return milliseconds(static_cast<int64_t>(random % (static_cast<uint64_t>(ceiling) + 1)));
}

std::optional<milliseconds> parseRetryAfter(std::string_view value, std::time_t now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  std::optional<int64_t> seconds;
  if (isDigit(value.front())) {
    seconds = parseDeltaSeconds(value);
  } else if (auto at = parseHttpDate(value, now)) {
    seconds = std::clamp<int64_t>(*at - static_cast<int64_t>(now), 0, kMaxDeltaSeconds);
  }
  if (!seconds) return std::nullopt;
  return milliseconds(*seconds * 1000);
}

namespace {
int64_t secondIndex(Budget::Clock::time_point now) {
  return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
}
}  // namespace

Budget::Second& Budget::secondAt(Clock::time_point now) {
  const int64_t index = secondIndex(now);
  Second& s = window_[static_cast<size_t>(index) % window_.size()];
  if (s.index.load(std::memory_order_relaxed) != index) {
    s.requests.store(0, std::memory_order_relaxed);
    s.replays.store(0, std::memory_order_relaxed);
    s.index.store(index, std::memory_order_relaxed);
  }
  return s;
}

std::pair<int64_t, int64_t> Budget::startedInWindow(Clock::time_point now) const {
  const int64_t index = secondIndex(now);
  int64_t requests = 0, replays = 0;
  for (const Second& s : window_) {
    const int64_t at = s.index.load(std::memory_order_relaxed);
    if (at > index - kWindow.count() && at <= index) {
      requests += s.requests.load(std::memory_order_relaxed);
      replays += s.replays.load(std::memory_order_relaxed);
    }
  }
  return {requests, replays};
}

void Budget::requestStarted(Clock::time_point now) {
  add(requests_, 1);
  bump(secondAt(now).requests);
}

void Budget::requestFinished() {
  assert(requestsInFlight() > 0);
  if (requestsInFlight() > 0) add(requests_, -1);
}

bool Budget::available(int budget_percent, Clock::time_point now) const {
  if (replaysInFlight() < kMinConcurrency) return true;
  auto [requests, replays] = startedInWindow(now);
  return replays < requests * std::max(budget_percent, 0) / 100;
}

bool Budget::tryStartReplay(int budget_percent, Clock::time_point now) {
  if (!available(budget_percent, now)) return false;
  add(replays_, 1);
  bump(secondAt(now).replays);
  return true;
}

void Budget::replayFinished() {
  assert(replaysInFlight() > 0);
  if (replaysInFlight() > 0) add(replays_, -1);
}

Directive parseDirective(std::string_view value) {
  Directive d;
  bool has_region = false;
  bool has_state = false;
  while (true) {
    size_t semi = value.find(';');
    std::string_view field = trim(value.substr(0, semi));
    if (!field.empty()) {
      size_t eq = field.find('=');
      if (eq == std::string_view::npos) return Directive{};
      std::string_view name = trim(field.substr(0, eq));
      std::string_view val = trim(field.substr(eq + 1));
      if (name.empty()) return Directive{};
      if (iequals(name, "region")) {
        if (has_region || !isToken(val)) return Directive{};
        has_region = true;
        d.primary = iequals(val, "primary");
        d.region = d.primary ? std::string_view() : val;
      } else if (iequals(name, "elsewhere")) {
        if (!iequals(val, "true") && !iequals(val, "false")) return Directive{};
        d.elsewhere = iequals(val, "true");
      } else if (iequals(name, "state")) {
        if (has_state) return Directive{};
        has_state = true;
        d.state = val;
      }  // other fields (instance=, app=, ...) name things Meridian does not have
    }
    if (semi == std::string_view::npos) break;
    value.remove_prefix(semi + 1);
  }
  if (has_region) d.elsewhere = false;  // a named region is the more precise request
  d.valid = has_region || d.elsewhere;
  // An invalid directive carries nothing (a state without a region would otherwise linger).
  return d.valid ? d : Directive{};
}

void formatReplaySource(std::string_view region, std::string_view state, int64_t micros,
                        std::string& out) {
  out.assign("region=");
  out.append(region);
  if (!state.empty()) {
    out.append(";state=");
    out.append(state);
  }
  out.append(";t=");
  out.append(std::to_string(micros));
}

}  // namespace meridian::proxy::replay
