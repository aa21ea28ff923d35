// runtime/env: switches and integers from the environment, parsed strictly (issue 15: atoi read
// EMBER_JIT=on as 0 and 99999999999 as 1215752191).
#include <cstdlib>

#include "runtime/env.hpp"
#include "support/reference.hpp"

using namespace ember;

TEST_CASE("parse_flag takes the usual words and nothing else", "[runtime][env]") {
  for (const char* t : {"1", "on", "ON", "true", "True", "yes", " yes "}) {
    INFO(t);
    CHECK(env::parse_flag(t) == std::optional<bool>(true));
  }
  for (const char* f : {"0", "off", "Off", "false", "FALSE", "no"}) {
    INFO(f);
    CHECK(env::parse_flag(f) == std::optional<bool>(false));
  }
  for (const char* bad : {"", "2", "-1", "enabled", "o", "onn", "1.0", "y"}) {
    INFO(bad);
    CHECK_FALSE(env::parse_flag(bad).has_value());
  }
}

TEST_CASE("parse_integer takes whole numbers in range only", "[runtime][env]") {
  CHECK(env::parse_integer("42", 0, 100) == std::optional<int64_t>(42));
  CHECK(env::parse_integer(" +7 ", 0, 100) == std::optional<int64_t>(7));
  CHECK(env::parse_integer("-3", -5, 5) == std::optional<int64_t>(-3));
  CHECK(env::parse_integer("9223372036854775807", 0, INT64_MAX) ==
        std::optional<int64_t>(INT64_MAX));
  CHECK(env::parse_integer("-9223372036854775808", INT64_MIN, 0) ==
        std::optional<int64_t>(INT64_MIN));
  for (const char* bad : {"", "-", "+", "1.5", "12abc", "0x10", "1e3", "9223372036854775808",
                          "99999999999999999999", "-9223372036854775809", "101", "-1"}) {
    INFO(bad);
    CHECK_FALSE(env::parse_integer(bad, 0, 100).has_value());
  }
  CHECK_FALSE(env::parse_integer("99999999999", 1, 1000000).has_value());  // atoi: 1215752191
}

TEST_CASE("env readers fall back to the default on unset, empty or bad values", "[runtime][env]") {
  ::setenv("EMBER_TEST_ENV_FLAG", "on", 1);
  CHECK(env::flag("EMBER_TEST_ENV_FLAG", false));
  ::setenv("EMBER_TEST_ENV_FLAG", "maybe", 1);
  CHECK(env::flag("EMBER_TEST_ENV_FLAG", true));
  CHECK_FALSE(env::flag("EMBER_TEST_ENV_FLAG", false));
  ::setenv("EMBER_TEST_ENV_FLAG", "", 1);
  CHECK(env::flag("EMBER_TEST_ENV_FLAG", true));
  ::unsetenv("EMBER_TEST_ENV_FLAG");
  CHECK_FALSE(env::flag("EMBER_TEST_ENV_FLAG", false));

  ::setenv("EMBER_TEST_ENV_INT", "16", 1);
  CHECK(env::integer("EMBER_TEST_ENV_INT", 2, 0, 100) == 16);
  ::setenv("EMBER_TEST_ENV_INT", "1000", 1);
  CHECK(env::integer("EMBER_TEST_ENV_INT", 2, 0, 100) == 2);
  ::unsetenv("EMBER_TEST_ENV_INT");

  ::setenv("EMBER_TEST_ENV_CHOICE", "Im2Col", 1);
  CHECK(env::choice("EMBER_TEST_ENV_CHOICE", {"im2col", "dnnl"}, "dnnl") == "im2col");
  ::setenv("EMBER_TEST_ENV_CHOICE", "gpu", 1);
  CHECK(env::choice("EMBER_TEST_ENV_CHOICE", {"im2col", "dnnl"}, "dnnl") == "dnnl");
  ::unsetenv("EMBER_TEST_ENV_CHOICE");
}
