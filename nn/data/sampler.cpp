#include "nn/data/sampler.hpp"

#include <numeric>
#include <utility>

#include "runtime/random.hpp"

namespace ember::data {

uint64_t mix_seed(std::initializer_list<uint64_t> words) {
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (uint64_t w : words) {
    uint64_t z = h ^ (w + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    h = z ^ (z >> 31);
  }
  return h;
}

std::vector<int64_t> SequentialSampler::indices(int64_t) const {
  std::vector<int64_t> out(n_);
  std::iota(out.begin(), out.end(), int64_t{0});
  return out;
}

std::vector<int64_t> RandomSampler::indices(int64_t epoch) const {
  std::vector<int64_t> out(n_);
  std::iota(out.begin(), out.end(), int64_t{0});
  // Fisher-Yates driven by Philox on a key of (seed, epoch); Lemire's multiply-shift maps
  // 64 random bits to [0, i] without a visible bias.
  const uint64_t key = mix_seed({seed_, static_cast<uint64_t>(epoch)});
  for (size_t i = n_; i-- > 1;) {
    auto r = random::philox(i, key);
    uint64_t bits = (uint64_t{r[0]} << 32) | r[1];
    auto j = static_cast<size_t>((static_cast<unsigned __int128>(bits) * (i + 1)) >> 64);
    std::swap(out[i], out[j]);
  }
  return out;
}

}  // namespace ember::data
