// Environment variables, read strictly: a value ember does not understand is never guessed at
// (atoi read EMBER_JIT=on as 0, turning the JIT off); it is reported once on stderr and the
// default is used.
//
//   bool on = env::flag("EMBER_JIT", true);                  // 1/0, on/off, true/false, yes/no
//   int64_t hot = env::integer("EMBER_JIT_HOT", 2, 1, 1'000'000);
//   std::string conv = env::choice("EMBER_CONV", {"im2col", "dnnl"}, "dnnl");
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace ember::env {

/// A switch: 1, on, true, yes are true; 0, off, false, no are false (any letter case,
/// surrounding blanks ignored); anything else is nullopt.
std::optional<bool> parse_flag(std::string_view text);
/// A whole decimal number (optional sign, surrounding blanks ignored) in [min, max]; anything
/// else (letters, a fraction, out of range, overflowing int64) is nullopt.
std::optional<int64_t> parse_integer(std::string_view text, int64_t min, int64_t max);

/// The switch `name`: unset or empty gives fallback; a value parse_flag refuses warns once per
/// variable on stderr and gives fallback.
bool flag(const char* name, bool fallback);
/// The integer `name` in [min, max]: unset or empty gives fallback; a value parse_integer
/// refuses warns once per variable on stderr and gives fallback.
int64_t integer(const char* name, int64_t fallback, int64_t min, int64_t max);
/// The variable `name` when it is one of `choices` (exactly, letter case ignored; returned as
/// spelled in choices); unset or empty gives fallback; anything else warns once and gives it.
std::string choice(const char* name, std::initializer_list<std::string_view> choices,
                   std::string_view fallback);

}  // namespace ember::env
