#include "nn/data/transforms.hpp"

#include <algorithm>

#include "runtime/random.hpp"

namespace ember::data {

double SampleRng::uniform(uint64_t n) const {
  auto r = random::philox(n, key_);
  uint64_t bits = (uint64_t{r[0]} << 32) | r[1];
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

int64_t SampleRng::randint(int64_t low, int64_t high, uint64_t n) const {
  EMBER_CHECK(low < high, ValueError, "SampleRng.randint: empty range [", low, ", ", high, ")");
  auto r = random::philox(n, key_);
  uint64_t bits = (uint64_t{r[0]} << 32) | r[1];
  auto span = static_cast<uint64_t>(high - low);
  return low + static_cast<int64_t>((static_cast<unsigned __int128>(bits) * span) >> 64);
}

// ---- Normalize ----

Normalize::Normalize(std::vector<double> mean, std::vector<double> std)
    : mean_(std::move(mean)), std_(std::move(std)) {
  EMBER_CHECK(!mean_.empty() && mean_.size() == std_.size(), ValueError,
              "Normalize: mean and std need the same, non-zero number of values, got ",
              mean_.size(), " and ", std_.size());
  for (size_t c = 0; c < std_.size(); ++c)
    EMBER_CHECK(std_[c] != 0, ValueError, "Normalize: std evaluated to zero at channel ", c,
                ", leading to division by zero");
  auto c = static_cast<int64_t>(mean_.size());
  mean64_ = c == 1 ? scalar_tensor(mean_[0], kFloat64) : tensor(mean_, {c, 1, 1});
  std64_ = c == 1 ? scalar_tensor(std_[0], kFloat64) : tensor(std_, {c, 1, 1});
  mean32_ = mean64_.to(kFloat32);
  std32_ = std64_.to(kFloat32);
}

Tensor Normalize::operator()(const Tensor& x, const SampleRng&) const {
  auto c = static_cast<int64_t>(mean_.size());
  EMBER_CHECK(x.defined() && x.is_floating_point(), DTypeError,
              "Normalize: expected a floating tensor");
  if (c > 1)
    EMBER_CHECK(x.dim() >= 3 && x.size(-3) == c, ShapeError, "Normalize: expected input [..., ", c,
                ", H, W] to match the ", c, " values of mean/std, got shape ", x.sizes());
  bool f64 = x.dtype() == kFloat64;
  return (x - (f64 ? mean64_ : mean32_)) / (f64 ? std64_ : std32_);
}

// ---- RandomHorizontalFlip ----

RandomHorizontalFlip::RandomHorizontalFlip(double p) : p_(p) {
  EMBER_CHECK(p >= 0 && p <= 1, ValueError, "RandomHorizontalFlip: p must be in [0, 1], got ", p);
}

Tensor RandomHorizontalFlip::operator()(const Tensor& x, const SampleRng& rng) const {
  EMBER_CHECK(x.defined() && x.dim() >= 1, ShapeError,
              "RandomHorizontalFlip: expected a tensor with at least one dim");
  if (!(rng.uniform(0) < p_) || x.numel() == 0) return x;
  // The width reversed as a view with a negative stride, materialised at once by the copy
  // kernel (which takes any strides); the view never leaves this function.
  const int64_t w = x.size(-1);
  Dims strides = x.strides();
  int64_t offset = x.storage_offset() + (w - 1) * strides.back();
  strides.back() = -strides.back();
  Tensor flipped = make_view(x, x.sizes(), strides, offset);
  Tensor out = empty_like(x);
  out.copy_(flipped);
  return out;
}

// ---- RandomCrop ----

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding)
    : height_(height), width_(width), padding_(padding) {
  EMBER_CHECK(height > 0 && width > 0, ValueError, "RandomCrop: size must be positive, got ",
              height, " x ", width);
  EMBER_CHECK(padding >= 0, ValueError, "RandomCrop: padding must be non-negative, got ", padding);
}

Tensor RandomCrop::operator()(const Tensor& x, const SampleRng& rng) const {
  EMBER_CHECK(x.defined() && x.dim() >= 2, ShapeError,
              "RandomCrop: expected input [..., H, W], got ", x.defined() ? x.sizes() : Dims{});
  const int64_t h = x.size(-2), w = x.size(-1);
  const int64_t ph = h + 2 * padding_, pw = w + 2 * padding_;
  EMBER_CHECK(height_ <= ph && width_ <= pw, ValueError, "RandomCrop: required crop size (",
              height_, ", ", width_, ") is larger than the padded input image (", ph, ", ", pw,
              ") of input shape ", x.sizes(), " with padding ", padding_);
  // Offsets into the padded image, as torchvision draws them.
  const int64_t top = rng.randint(0, ph - height_ + 1, 0);
  const int64_t left = rng.randint(0, pw - width_ + 1, 1);
  if (padding_ == 0 && height_ == h && width_ == w) return x;
  Dims out_sizes = x.sizes();
  out_sizes[out_sizes.size() - 2] = height_;
  out_sizes.back() = width_;
  Tensor out = zeros(out_sizes, x.dtype());
  // The window in the unpadded image's coordinates, clipped to the image.
  const int64_t r0 = top - padding_, c0 = left - padding_;
  const int64_t rb = std::max<int64_t>(r0, 0), re = std::min(r0 + height_, h);
  const int64_t cb = std::max<int64_t>(c0, 0), ce = std::min(c0 + width_, w);
  if (rb < re && cb < ce)
    out.narrow(-2, rb - r0, re - rb)
        .narrow(-1, cb - c0, ce - cb)
        .copy_(x.narrow(-2, rb, re - rb).narrow(-1, cb, ce - cb));
  return out;
}

}  // namespace ember::data
