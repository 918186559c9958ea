#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <atomic>

namespace meridian::core {

namespace {
std::atomic<LogLevel> g_level{LogLevel::Info};
const char* levelName(LogLevel l) {
  switch (l) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "?";
}
}  // namespace

void setLogLevel(LogLevel level) {
  g_level = level;
}
bool logEnabled(LogLevel level) {
  return level >= g_level.load(std::memory_order_relaxed);
}

void logLine(LogLevel level, const char* fmt, ...) {
  if (!logEnabled(level)) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  // One fprintf per line: stdio locks the stream, so lines from workers do not interleave.
  fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s\n", t.tm_year + 1900, t.tm_mon + 1,
          t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000, levelName(level), msg);
}

}  // namespace meridian::core
