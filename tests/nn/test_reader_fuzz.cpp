// The seeded mutation loop over the file readers (safetensors, IDX images and labels) that ctest
// runs: every mutant of valid files loads or throws an ember::Error — never another exception,
// a crash or (in the ASan build) a memory error. The libFuzzer target (tests/fuzz,
// scripts/fuzz.sh) explores the same entry point with coverage guidance.
//   EMBER_READER_FUZZ_N=200000 EMBER_READER_FUZZ_SEED=7 ./build/tests/ember_tests "[fuzz]"
#include <random>

#include "runtime/env.hpp"
#include "support/reader_fuzz.hpp"
#include "support/reference.hpp"

using namespace ember;

namespace {

// Numbers that break size arithmetic, spliced over digit runs of the JSON header.
const char* const kNumbers[] = {"0",
                                "1",
                                "-1",
                                "4294967296",
                                "2305843009213693952",
                                "4611686018427387904",
                                "9223372036854775807",
                                "18446744073709551615",
                                "99999999999999999999",
                                "1e400",
                                "1.5",
                                "[]",
                                "{}",
                                "null",
                                "\"x\""};

std::string mutate(std::string s, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 9) {
      case 0:  // flip a bit (not the reader byte)
        if (s.size() > 1) s[1 + pick(s.size() - 1)] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1: {  // an interesting byte
        const char bytes[] = {
            0, 1, 0x7f, static_cast<char>(0x80), static_cast<char>(0xff), '[', '{', '"', ',', ']'};
        if (s.size() > 1) s[1 + pick(s.size() - 1)] = bytes[rng() % sizeof bytes];
        break;
      }
      case 2:  // truncate
        s.resize(1 + pick(s.size()));
        break;
      case 3:  // delete a range
        if (s.size() > 2) {
          size_t at = 1 + pick(s.size() - 1);
          s.erase(at, 1 + pick(std::min<size_t>(16, s.size() - at)));
        }
        break;
      case 4:  // duplicate a range
        if (s.size() > 2) {
          size_t at = 1 + pick(s.size() - 1), n = 1 + pick(std::min<size_t>(64, s.size() - at));
          s.insert(at, s.substr(at, n));
        }
        break;
      case 5: {  // a digit run becomes an adversarial number
        std::vector<size_t> starts;
        for (size_t i = 1; i < s.size(); ++i)
          if (std::isdigit(static_cast<unsigned char>(s[i])) &&
              !std::isdigit(static_cast<unsigned char>(s[i - 1])))
            starts.push_back(i);
        if (starts.empty()) break;
        size_t at = starts[pick(starts.size())], end = at;
        while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
        s.replace(at, end - at, kNumbers[rng() % std::size(kNumbers)]);
        break;
      }
      case 6:  // a random little-endian u64 (a safetensors header length) or big-endian u32
        if (s.size() >= 9) {
          uint64_t v = rng() % 3 == 0 ? rng() : rng() % 4096;
          size_t at = rng() % 2 ? 1 : 1 + pick(s.size() - 8);
          for (int k = 0; k < 8 && at + k < s.size(); ++k)
            s[at + k] = static_cast<char>(v >> (8 * k));
        }
        break;
      case 7:  // another reader for the same bytes
        s[0] = static_cast<char>(rng() % fuzz::kReaders);
        break;
      default:  // insert random bytes
        s.insert(1 + pick(s.size()), std::string(1 + rng() % 8, static_cast<char>(rng())));
        break;
    }
  }
  return s;
}

}  // namespace

TEST_CASE("mutated safetensors and IDX files load or throw ember::Error", "[fuzz][io]") {
  const int64_t n = env::integer("EMBER_READER_FUZZ_N", 20000, 0, INT64_MAX);
  const auto seed = static_cast<uint64_t>(env::integer("EMBER_READER_FUZZ_SEED", 1, 0, INT64_MAX));
  std::mt19937_64 rng(seed);
  fuzz::MemFile file;
  std::vector<std::string> seeds = fuzz::seeds();
  for (const std::string& s : seeds)  // the seeds themselves load
    fuzz::run_one(reinterpret_cast<const uint8_t*>(s.data()), s.size(), file);
  int64_t loaded = 0, refused = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::string input = mutate(seeds[rng() % seeds.size()], rng);
    try {
      fuzz::run_one(reinterpret_cast<const uint8_t*>(input.data()), input.size(), file);
      ++loaded;
    } catch (const Error&) {
      ++refused;
    } catch (const std::exception& e) {
      FAIL("mutant " << i << " (EMBER_READER_FUZZ_SEED=" << seed << ") threw " << typeid(e).name()
                     << ": " << e.what());
    }
  }
  INFO("loaded " << loaded << ", refused " << refused);
  CHECK(loaded + refused == n);
  if (n >= 1000) {
    CHECK(refused > n / 10);  // the mutations reach the checks...
    CHECK(loaded > 0);        // ...and some mutants stay valid
  }
}
