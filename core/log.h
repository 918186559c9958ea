#pragma once
// Operational log lines to stderr, one per event, prefixed with level and time. Access logs
// are separate (they are data, not diagnostics).
#include <cstring>

namespace meridian::core {

enum class LogLevel { Debug, Info, Warn, Error };
void setLogLevel(LogLevel level);
bool logEnabled(LogLevel level);
void logLine(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define logDebug(...)                                                              \
  (::meridian::core::logEnabled(::meridian::core::LogLevel::Debug)                 \
       ? ::meridian::core::logLine(::meridian::core::LogLevel::Debug, __VA_ARGS__) \
       : (void)0)
#define logInfo(...) ::meridian::core::logLine(::meridian::core::LogLevel::Info, __VA_ARGS__)
#define logWarn(...) ::meridian::core::logLine(::meridian::core::LogLevel::Warn, __VA_ARGS__)
#define logError(...) ::meridian::core::logLine(::meridian::core::LogLevel::Error, __VA_ARGS__)

}  // namespace meridian::core
