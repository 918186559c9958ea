#pragma once
// Loads and validates a config file. Every problem is reported, not just the first, as
// `FILE:LINE:COL: message` (1-based), the format `meridian validate` prints.
#include <string>
#include <vector>

#include "config/config.h"

namespace meridian::config {

struct Diagnostic {
  std::string file;
  int line = 0;
  int col = 0;
  std::string message;
  std::string text() const;  // "FILE:LINE:COL: message"
};

struct LoadResult {
  Config config;                        // meaningful only when ok()
  std::vector<Diagnostic> diagnostics;  // empty when ok
  bool ok() const { return diagnostics.empty(); }
};

// Reads and validates `path`. Never throws.
LoadResult loadFile(const std::string& path);
// Parses YAML text; `name` is used in diagnostics in place of a file name.
LoadResult loadString(const std::string& yaml, const std::string& name);

}  // namespace meridian::config
