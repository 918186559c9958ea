// libFuzzer target for the config loader: any bytes must give a LoadResult, never a crash,
// an exception or a hang. Run: config_fuzz -max_total_time=60 [corpus_dir]
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  auto result = meridian::config::loadString(yaml, "fuzz.yaml");
  // Formatting every diagnostic exercises the text paths the CLI prints.
  size_t total = 0;
  for (const auto& d : result.diagnostics) total += d.text().size();
  if (result.ok() && total != 0) __builtin_trap();  // ok() means no diagnostics
  return 0;
}
