#include "tests/fakes/geo_db.h"

#include "tests/fakes/subprocess.h"

namespace meridian::fakes {

::testing::AssertionResult makeGeoDb(const std::string& layout, const std::string& path) {
  auto r = runCommand(
      {"perl", std::string(MERIDIAN_SOURCE_DIR) + "/tests/fixtures/make_geo_db.pl", layout, path},
      milliseconds(30000));
  if (r.exitCode != 0) return ::testing::AssertionFailure() << r.describe();
  return ::testing::AssertionSuccess();
}

}  // namespace meridian::fakes
