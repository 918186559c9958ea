#pragma once
// The one way Meridian reads a file an operator names (the config, certificates and keys, the
// geo database): regular files only, and no larger than a cap. A path that names /dev/zero
// would otherwise be read forever, and a FIFO would block the reading thread until someone
// writes to it; on a reload that thread is the admin loop. The file is opened with
// O_NONBLOCK, so opening a FIFO returns at once, and refused unless fstat says S_ISREG.
#include <cstdint>
#include <string>

#include "core/error.h"

namespace meridian::core {

struct FileLimit {
  uint64_t max_bytes;
  const char* what;  // "a config file": for the message of a file over the cap
};

constexpr uint64_t kMiB = 1024 * 1024;
constexpr FileLimit kConfigFileLimit{8 * kMiB, "a config file"};
constexpr FileLimit kPemFileLimit{1 * kMiB, "a certificate or key file"};
constexpr FileLimit kGeoDatabaseLimit{512 * kMiB, "a geo database"};

// The whole file. Errors (kind ConfigInvalid) carry only the reason, for the caller to put
// after the file name: "cannot read: No such file or directory", "cannot read: Is a
// directory", "not a regular file (a FIFO)", "too large: more than 1 MiB (the limit for a
// certificate or key file)". The cap holds even for a file that grows while it is read.
Result<std::string> readRegularFile(const std::string& path, FileLimit limit);

// The same checks without reading, for a file a library opens itself (libmaxminddb maps the
// geo database): it exists, is a regular file, and is within the cap. Returns its size.
Result<uint64_t> checkRegularFile(const std::string& path, FileLimit limit);

// "512 MiB", "1 MiB", "300 KiB", "17 bytes": sizes in messages.
std::string sizeText(uint64_t bytes);

}  // namespace meridian::core
