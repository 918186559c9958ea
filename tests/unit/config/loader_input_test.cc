// The loader against hostile or unusual input: files that are not regular or too large,
// nesting deep enough to exhaust a recursive parser, and the newer shapes of keys (geo
// databases as a list, the positions of certificate and key paths).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "config/loader.h"
#include "core/file_read.h"
#include "tests/fakes/subprocess.h"

namespace meridian::config {
namespace {

using Lines = std::vector<std::string>;

constexpr const char* kMinimal = "listeners:\n  - address: 127.0.0.1:0\n";

Lines problems(const std::string& yaml) {
  Lines out;
  for (const auto& d : loadString(yaml, "t.yaml").diagnostics) out.push_back(d.text());
  return out;
}

TEST(LoadGeoDatabase, OnePathOrAListTriedInOrder) {
  auto one = loadString(std::string(kMinimal) + "geo: { database: a.mmdb }\n", "t.yaml");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one.config.geo.databases.size(), 1u);
  EXPECT_EQ(one.config.geo.databases[0].path, "a.mmdb");
  EXPECT_EQ(one.config.geo.databases[0].mark.line, 3);
  EXPECT_EQ(one.config.geo.databases[0].mark.col, 18);
  auto two = loadString(std::string(kMinimal) +
                            "geo:\n  database:\n    - data/v4.mmdb\n    - data/v6.mmdb\n",
                        "t.yaml");
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two.config.geo.databases.size(), 2u);
  EXPECT_EQ(two.config.geo.databases[0].path, "data/v4.mmdb");
  EXPECT_EQ(two.config.geo.databases[1].path, "data/v6.mmdb");
  EXPECT_EQ(two.config.geo.databases[1].mark.line, 6);
  EXPECT_EQ(two.config.geo.databases[1].mark.col, 7);
  EXPECT_TRUE(loadString(std::string(kMinimal) + "geo: { database: [] }\n", "t").ok());
}

TEST(LoadGeoDatabase, BadShapesAreReportedAtTheValue) {
  EXPECT_EQ(problems(std::string(kMinimal) + "geo: { database: [a.mmdb, [b], a.mmdb, ''] }\n"),
            (Lines{"t.yaml:3:27: geo.database[1]: expected a string, got a list",
                   "t.yaml:3:32: geo.database[2]: \"a.mmdb\" is listed twice",
                   "t.yaml:3:40: geo.database[3]: expected a file path, got an empty string"}));
  EXPECT_EQ(problems(std::string(kMinimal) + "geo: { database: { a: b } }\n"),
            Lines{"t.yaml:3:18: geo.database: expected a file path or a list of them, got a map"});
}

}  // namespace
}  // namespace meridian::config
