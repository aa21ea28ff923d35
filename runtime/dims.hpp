// Dims: a small inline vector of int64_t for sizes, strides and dim lists.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iosfwd>
#include <span>
#include <vector>

namespace ember {

/// Up to 6 elements inline, heap beyond; the shape type of every tensor.
class Dims {
 public:
  static constexpr int64_t kInline = 6;

  Dims() = default;
  Dims(std::initializer_list<int64_t> v) { assign(v.begin(), v.size()); }
  Dims(const std::vector<int64_t>& v) { assign(v.data(), v.size()); }  // NOLINT: implicit
  Dims(std::span<const int64_t> v) { assign(v.data(), v.size()); }     // NOLINT: implicit
  explicit Dims(size_t n, int64_t fill = 0) { resize(n, fill); }
  Dims(const Dims& o) { assign(o.data(), o.size()); }
  Dims(Dims&& o) noexcept { steal(o); }
  Dims& operator=(const Dims& o) {
    if (this != &o) assign(o.data(), o.size());
    return *this;
  }
  Dims& operator=(Dims&& o) noexcept {
    if (this != &o) {
      release();
      steal(o);
    }
    return *this;
  }
  ~Dims() { release(); }

  int64_t* data() { return heap_ ? heap_ : inline_; }
  const int64_t* data() const { return heap_ ? heap_ : inline_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t& operator[](size_t i) { return data()[i]; }
  int64_t operator[](size_t i) const { return data()[i]; }
  int64_t* begin() { return data(); }
  int64_t* end() { return data() + size_; }
  const int64_t* begin() const { return data(); }
  const int64_t* end() const { return data() + size_; }
  int64_t& back() { return data()[size_ - 1]; }
  int64_t back() const { return data()[size_ - 1]; }

  void push_back(int64_t v) {
    reserve(size_ + 1);
    data()[size_++] = v;
  }
  void insert(size_t pos, int64_t v) {
    reserve(size_ + 1);
    int64_t* d = data();
    std::memmove(d + pos + 1, d + pos, (size_ - pos) * sizeof(int64_t));
    d[pos] = v;
    ++size_;
  }
  void erase(size_t pos) {
    int64_t* d = data();
    std::memmove(d + pos, d + pos + 1, (size_ - pos - 1) * sizeof(int64_t));
    --size_;
  }
  void resize(size_t n, int64_t fill = 0) {
    reserve(n);
    for (size_t i = size_; i < n; ++i) data()[i] = fill;
    size_ = n;
  }
  void clear() { size_ = 0; }
  void reserve(size_t n) {
    if (n <= capacity()) return;
    size_t cap = std::max<size_t>(n, 2 * capacity());
    auto* p = new int64_t[cap];
    std::memcpy(p, data(), size_ * sizeof(int64_t));
    delete[] heap_;
    heap_ = p;
    cap_ = cap;
  }

  std::span<const int64_t> span() const { return {data(), size_}; }
  std::vector<int64_t> vec() const { return {begin(), end()}; }

  friend bool operator==(const Dims& a, const Dims& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  size_t capacity() const { return heap_ ? cap_ : kInline; }
  void assign(const int64_t* p, size_t n) {
    size_ = 0;
    reserve(n);
    if (n != 0) std::memmove(data(), p, n * sizeof(int64_t));
    size_ = n;
  }
  void steal(Dims& o) {
    size_ = o.size_;
    if (o.heap_) {
      heap_ = o.heap_;
      cap_ = o.cap_;
      o.heap_ = nullptr;
    } else {
      heap_ = nullptr;
      std::memcpy(inline_, o.inline_, size_ * sizeof(int64_t));
    }
    o.size_ = 0;
  }
  void release() {
    delete[] heap_;
    heap_ = nullptr;
  }

  int64_t inline_[kInline];
  int64_t* heap_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

/// Prints as PyTorch's C++ frontend prints sizes: [2, 3].
std::ostream& operator<<(std::ostream& os, const Dims& d);

/// Product of the sizes (1 for an empty list). Wraps instead of overflowing: sizes that made a
/// tensor passed checked_product.
inline int64_t product(const Dims& d) {
  uint64_t n = 1;
  for (int64_t v : d) n *= static_cast<uint64_t>(v);
  return static_cast<int64_t>(n);
}

/// Product of non-negative sizes, or -1 when it does not fit int64 (a zero size makes it 0,
/// however large the others).
inline int64_t checked_product(const Dims& d) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t v : d) {
    if (v == 0) return 0;
    overflow = overflow || __builtin_mul_overflow(n, v, &n);
  }
  return overflow ? -1 : n;
}

}  // namespace ember
