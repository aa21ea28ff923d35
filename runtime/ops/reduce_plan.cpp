#include "runtime/ops/reduce_plan.hpp"

#include <algorithm>

#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

namespace ember::reduce {

ReducePlan::ReducePlan(const Tensor& a, const Dims& dims, bool keepdim, bool keep_reduced_order) {
  const int64_t nd = a.dim();
  const Dims& sz = a.sizes();
  std::vector<bool> red(nd, dims.empty());
  for (int64_t d : dims)
    if (d < nd) red[d] = true;  // a 0-d tensor takes dim 0 and reduces nothing
  for (int64_t d = 0; d < nd; ++d) {
    if (!red[d])
      out_shape_.push_back(sz[d]);
    else if (keepdim)
      out_shape_.push_back(1);
  }
  if (a.numel() == 0) {  // nothing to read: [outer, rows, 1] with outer or rows zero
    for (int64_t d = 0; d < nd; ++d) (red[d] ? rows : outer) *= sz[d];
    x_ = a;
    return;
  }

  // Dims of size 1 play no part in the layout.
  std::vector<int64_t> order;
  for (int64_t d = 0; d < nd; ++d)
    if (sz[d] != 1) order.push_back(d);
  Tensor base;
  if (a.is_contiguous()) {
    base = a;
  } else {
    // A permuted dense tensor (a transpose, channels-last) is read in memory order, no copy.
    std::vector<int64_t> mem = order;
    const Dims& st = a.strides();
    std::stable_sort(mem.begin(), mem.end(), [&](int64_t p, int64_t q) { return st[p] > st[q]; });
    int64_t expected = 1;
    bool dense = true;
    for (size_t i = mem.size(); i-- > 0 && dense;) {
      dense = st[mem[i]] == expected;
      expected *= sz[mem[i]];
    }
    if (dense && keep_reduced_order) {
      int64_t last = -1;
      for (int64_t d : mem) {
        if (!red[d]) continue;
        dense = dense && d > last;
        last = d;
      }
    }
    if (dense) {
      base = a;
      order = mem;
    } else {
      NoGradGuard g;
      base = a.contiguous();
    }
  }

  auto count_reduced_runs = [&] {
    int runs = 0;
    for (size_t i = 0; i < order.size(); ++i)
      runs += red[order[i]] && (i == 0 || !red[order[i - 1]]);
    return runs;
  };
  if (count_reduced_runs() > 1) {
    // Reduced dims split by kept ones: one copy with the kept dims first, in logical order.
    Dims perm;
    for (int64_t d = 0; d < nd; ++d)
      if (!red[d]) perm.push_back(d);
    for (int64_t d = 0; d < nd; ++d)
      if (red[d]) perm.push_back(d);
    {
      NoGradGuard g;
      base = a.permute(perm).contiguous();
    }
    order.clear();
    for (int64_t d : perm)
      if (sz[d] != 1) order.push_back(d);
  }
  x_ = base;

  bool seen_reduced = false;
  std::vector<int64_t> kept;
  for (int64_t d : order) {
    if (red[d]) {
      rows *= sz[d];
      seen_reduced = true;
    } else {
      (seen_reduced ? inner : outer) *= sz[d];
      kept.push_back(d);
      mem_sizes_.push_back(sz[d]);
    }
  }
  if (!std::is_sorted(kept.begin(), kept.end())) {
    std::vector<int64_t> logical = kept;
    std::sort(logical.begin(), logical.end());
    for (int64_t d : logical)
      to_logical_.push_back(std::find(kept.begin(), kept.end(), d) - kept.begin());
  }
}

Tensor ReducePlan::buffer(DType d) const {
  return make_tensor(to_logical_.empty() ? out_shape_ : mem_sizes_, d);
}

Tensor ReducePlan::result(const Tensor& buf) const {
  if (to_logical_.empty()) return buf;
  Tensor r;
  {
    NoGradGuard g;
    r = buf.permute(to_logical_).contiguous();
  }
  return make_view(r, out_shape_, contiguous_strides(out_shape_), 0);
}

void check_nonempty(const Tensor& a, const Dims& dims, const char* name) {
  if (a.numel() != 0) return;
  EMBER_CHECK(!dims.empty(), ValueError, name,
              "(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
              "reduction dim with the 'dim' argument.");
  for (int64_t d : dims)
    EMBER_CHECK(a.size(d) != 0, IndexError, name, "(): Expected reduction dim ", d,
                " to have non-zero size.");
}

Dims kernel_dims(const Tensor& a, const Attrs& attrs, const char* name) {
  EMBER_CHECK(a.defined(), Error, name, ": the input tensor is undefined");
  return wrap_dims(std::get<ReduceAttrs>(attrs).dims, a.dim(), name);
}

}  // namespace ember::reduce
