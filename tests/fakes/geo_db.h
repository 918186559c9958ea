// Geo databases for tests, built with MaxMind's own writer (tests/fixtures/make_geo_db.pl).
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace meridian::fakes {

// Writes a small .mmdb at `path` in `layout` ("city", "flat" or "flat4"; see the script).
::testing::AssertionResult makeGeoDb(const std::string& layout, const std::string& path);

}  // namespace meridian::fakes
