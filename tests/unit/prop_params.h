// Property-based tests (RapidCheck) bounded for CI: MERIDIAN_PROP defines a Google Test that
// checks a property on a fixed number of random cases (kDefaultCases) with bounded sizes, so a
// suite runs in seconds. RapidCheck's own RC_PARAMS still rules when it names the value, e.g.
//   RC_PARAMS="max_success=5000 seed=42" build/tests/unit_routing --gtest_filter='*Prop*'
// A failure prints the shrunk counterexample and the seed; the same seed (RC_PARAMS="seed=N")
// finds it again. Each counterexample found becomes a plain regression test beside the property.
#pragma once

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

namespace meridian::prop {

inline constexpr int kDefaultCases = 150;
inline constexpr int kDefaultMaxSize = 60;

// RapidCheck's parameters from RC_PARAMS, with the bounded defaults for what it leaves out.
inline rc::detail::TestParams testParams() {
  rc::detail::TestParams p = rc::detail::configuration().testParams;
  const char* env = std::getenv("RC_PARAMS");
  if (env == nullptr || std::strstr(env, "max_success") == nullptr) p.maxSuccess = kDefaultCases;
  if (env == nullptr || std::strstr(env, "max_size") == nullptr) p.maxSize = kDefaultMaxSize;
  return p;
}

template <typename Testable>
void check(Testable&& testable) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  rc::detail::TestMetadata metadata;
  metadata.id = std::string(info->test_suite_name()) + "/" + info->name();
  metadata.description = info->name();
  rc::detail::TestResult result =
      rc::detail::checkTestable(std::forward<Testable>(testable), metadata, testParams());
  if (!result.template is<rc::detail::SuccessResult>()) {
    std::ostringstream ss;
    rc::detail::printResultMessage(result, ss);
    FAIL() << ss.str();
  }
}

}  // namespace meridian::prop

// A property as a Google Test, like RC_GTEST_PROP but bounded (meridian::prop::testParams).
#define MERIDIAN_PROP(Suite, Name, ArgList)      \
  void meridianProp_##Suite##_##Name ArgList;     \
  TEST(Suite, Name) {                             \
    ::meridian::prop::check(&meridianProp_##Suite##_##Name); \
  }                                               \
  void meridianProp_##Suite##_##Name ArgList
