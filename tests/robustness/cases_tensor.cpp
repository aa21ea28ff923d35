// Tensor-level bad input: sizes that overflow, indices out of range, shapes that do not fit,
// dtypes an op cannot take, values out of range, memory the system cannot give.
#include <sys/resource.h>

#include <cstdint>

#include "corpus.hpp"
#include "ember.hpp"

using namespace ember;
using namespace robust;

namespace {
constexpr int64_t k40 = int64_t{1} << 40, k62 = int64_t{1} << 62;
}

// ---- size: element and byte counts that overflow 64 bits ----
ROBUSTNESS_CASE(
    {.group = "size",
     .name = "zeros_2^62",
     .body = [] { zeros({k62}); },
     .error = "ValueError",
     .contains = {"zeros: a tensor of sizes [4611686018427387904] and dtype float32 is too large",
                  "overflows 64 bits"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "zeros_2^40x2^40_index_sum",
                 .body = [] { zeros({k40, k40})[5].sum(); },
                 .error = "ValueError",
                 .contains = {"zeros", "[1099511627776, 1099511627776]", "element count"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "empty_2^62_index_item",
                 .body = [] { empty({k62})[1000000].item(); },
                 .error = "ValueError",
                 .contains = {"empty", "[4611686018427387904]"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "ones_int64_2^61",
                 .body = [] { ones({int64_t{1} << 61}, kInt64); },
                 .error = "ValueError",
                 .contains = {"ones", "int64", "byte count"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "full_negative_size",
                 .body = [] { full({3, -2}, 1.0); },
                 .error = "ValueError",
                 .contains = {"full", "negative dimension -2", "[3, -2]"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "arange_1e20",
                 .body = [] { arange(0.0, 1e20); },
                 .error = "ValueError",
                 .contains = {"arange", "1e+20 elements"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "arange_infinite_end",
                 .body = [] { arange(0.0, INFINITY); },
                 .error = "ValueError",
                 .contains = {"arange", "inf"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "arange_zero_step",
                 .body = [] { arange(0, 10, 0); },
                 .error = "ValueError",
                 .contains = {"arange: step must be nonzero"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "linspace_2^62_steps",
                 .body = [] { linspace(0, 1, k62); },
                 .error = "ValueError",
                 .contains = {"linspace", "[4611686018427387904]"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "expand_past_int64",
                 .body = [] { ones({1, 1}).expand({k40, k40 * 16}); },
                 .error = "ValueError",
                 .contains = {"[1099511627776, 17592186044416]"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "expand_huge_then_sum",
                 // The view is fine; a kernel that copies it cannot be.
                 .body = [] { ones({1}).expand({k62}).sum({0}).item(); },
                 .error = "ValueError",
                 .contains = {"[4611686018427387904]", "too large"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "zero_numel_huge_dims_sum",
                 // The safetensors case of issue 15: [2^61, 2, 0] is a valid empty tensor, but
                 // summing away its 0 leaves 2^62 floats = 2^64 bytes.
                 .body = [] { empty({int64_t{1} << 61, 2, 0}).sum({2}); },
                 .error = "ValueError",
                 .contains = {"[2305843009213693952, 2]", "byte count overflows 64 bits"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "view_wrong_numel",
                 .body = [] { zeros({6}).view({4, 2}); },
                 .error = "ShapeError",
                 .contains = {"shape '[4, 2]' is invalid for input of size 6"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "view_two_inferred",
                 .body = [] { zeros({6}).view({-1, -1}); },
                 .error = "ValueError",
                 .contains = {"only one dimension can be inferred"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "reshape_overflowing_sizes",
                 .body = [] { zeros({4}).reshape({k62, 4}); },
                 .error = "ShapeError",
                 .contains = {"[4611686018427387904, 4]", "size 4"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "from_blob_null",
                 .body = [] { from_blob(nullptr, {4}).sum(); },
                 .error = "ValueError",
                 .contains = {"from_blob", "null pointer", "[4]"}});
ROBUSTNESS_CASE({.group = "size",
                 .name = "from_blob_null_empty_ok",
                 .body = [] { require(from_blob(nullptr, {0}).sum().item<float>() == 0, "sum"); },
                 .error = ""});
ROBUSTNESS_CASE({.group = "size",
                 .name = "from_blob_size_overflow",
                 .body =
                     [] {
                       float x = 0;
                       from_blob(&x, {k62, 4});
                     },
                 .error = "ValueError",
                 .contains = {"from_blob", "[4611686018427387904, 4]"}});

// ---- memory: requests the system refuses ----
ROBUSTNESS_CASE({.group = "memory",
                 .name = "zeros_1_EiB",
                 .body = [] { zeros({int64_t{1} << 58}); },
                 .error = "OutOfMemoryError",
                 .contains = {"out of memory", "1152921504606846976 bytes", "1.0 EiB"}});
ROBUSTNESS_CASE({.group = "memory",
                 .name = "zeros_4_TiB_under_rlimit",
                 .body =
                     [] {
#if !defined(__SANITIZE_ADDRESS__)
                       // ASan reserves terabytes of shadow: an address-space limit breaks it.
                       rlimit lim{size_t{16} << 30, size_t{16} << 30};
                       setrlimit(RLIMIT_AS, &lim);
#endif
                       zeros({k40});
                     },
                 .error = "OutOfMemoryError",
                 .contains = {"4398046511104 bytes", "4.0 TiB"}});
ROBUSTNESS_CASE({.group = "memory",
                 .name = "one_mib_costs_one_mib",
                 .body =
                     [] {
                       memory::empty_cache();
                       size_t before = memory::stats().allocated_bytes;
                       Tensor t = empty({256 * 1024});  // 1 MiB of float32
                       size_t cost = memory::stats().allocated_bytes - before;
                       require(cost == size_t{1} << 20,
                               "a 1 MiB tensor holds " + std::to_string(cost) + " bytes");
                     },
                 .error = ""});

// ---- index ----
ROBUSTNESS_CASE({.group = "index",
                 .name = "select_past_end",
                 .body = [] { zeros({2, 3})[2]; },
                 .error = "IndexError",
                 .contains = {
                     "select: index 2 out of range for tensor of size [2, 3] at dimension 0"}});
ROBUSTNESS_CASE({.group = "index",
                 .name = "select_negative_past_start",
                 .body = [] { zeros({2, 3}).select(1, -4); },
                 .error = "IndexError",
                 .contains = {"index -4 out of range", "[2, 3]", "dimension 1"}});
ROBUSTNESS_CASE({.group = "index",
                 .name = "dim_out_of_range",
                 .body = [] { zeros({2, 3}).sum({2}); },
                 .error = "IndexError",
                 .contains = {"dimension out of range", "but got 2"}});
ROBUSTNESS_CASE({.group = "index",
                 .name = "dim_int64_min",
                 .body = [] { zeros({2, 3}).sum({INT64_MIN}); },
                 .error = "IndexError",
                 .contains = {"dimension out of range", "-9223372036854775808"}});
ROBUSTNESS_CASE({.group = "index",
                 .name = "index_select_out_of_range",
                 .body = [] { index_select(zeros({4, 2}), 0, tensor(std::vector<int64_t>{1, 9})); },
                 .error = "IndexError",
                 .contains = {"index_select", "9"}});
ROBUSTNESS_CASE({.group = "index",
                 .name = "index_select_negative",
                 .body = [] { index_select(zeros({4, 2}), 0, tensor(std::vector<int64_t>{-5})); },
                 .error = "IndexError",
                 .contains = {"index_select", "-5"}});
ROBUSTNESS_CASE(
    {.group = "index",
     .name = "gather_out_of_range",
     .body = [] { gather(zeros({2, 2}), 1, tensor(std::vector<int64_t>{0, 2, 1, 0}, {2, 2})); },
     .error = "IndexError",
     .contains = {"gather", "2"}});
ROBUSTNESS_CASE(
    {.group = "index",
     .name = "embedding_out_of_range",
     .body = [] { nn::functional::embedding(tensor(std::vector<int64_t>{3, 10}), zeros({10, 4})); },
     .error = "IndexError",
     .contains = {"embedding", "10"}});
ROBUSTNESS_CASE({.group = "index",
                 .name = "cross_entropy_bad_class",
                 .body =
                     [] {
                       nn::functional::cross_entropy(zeros({2, 3}),
                                                     tensor(std::vector<int64_t>{0, 3}));
                     },
                 .error = "IndexError",
                 .contains = {"3"}});
ROBUSTNESS_CASE({.group = "index",
                 .name = "narrow_past_end",
                 .body = [] { zeros({5}).narrow(0, 3, 4); },
                 .error = "IndexError",
                 .contains = {"narrow"}});
ROBUSTNESS_CASE({.group = "index",
                 .name = "narrow_overflowing_start",
                 .body = [] { zeros({5}).narrow(0, INT64_MAX, 2); },
                 .error = "IndexError",
                 .contains = {"narrow"}});
ROBUSTNESS_CASE({.group = "index",
                 .name = "item_of_many",
                 .body = [] { zeros({3}).item(); },
                 .error = "ValueError",
                 .contains = {"a Tensor with 3 elements cannot be converted to Scalar"}});
ROBUSTNESS_CASE({.group = "index",
                 .name = "randint_empty_range",
                 .body = [] { randint(5, 5, {3}); },
                 .error = "ValueError",
                 .contains = {"randint"}});
ROBUSTNESS_CASE({.group = "index",
                 .name = "randperm_negative",
                 .body = [] { randperm(-1); },
                 .error = "ValueError",
                 .contains = {"randperm", "-1"}});

// ---- shape ----
ROBUSTNESS_CASE({.group = "shape",
                 .name = "add_mismatch",
                 .body = [] { zeros({2, 3}) + zeros({2, 4}); },
                 .error = "ShapeError",
                 .contains = {"The size of tensor a (3) must match the size of tensor b (4) at "
                              "non-singleton dimension 1"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "matmul_inner_mismatch",
                 .body = [] { matmul(zeros({2, 3}), zeros({4, 5})); },
                 .error = "ShapeError",
                 .contains = {"matmul", "[2, 3]", "[4, 5]"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "matmul_0d",
                 .body = [] { matmul(scalar_tensor(1.0), zeros({2})); },
                 .error = "ShapeError",
                 .contains = {"matmul"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "cat_mismatch",
                 .body = [] { cat({zeros({2, 3}), zeros({2, 4})}, 0); },
                 .error = "ShapeError",
                 .contains = {"cat", "[2, 3]", "[2, 4]"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "cat_empty_list",
                 .body = [] { cat({}, 0); },
                 .error = "ValueError",
                 .contains = {"cat"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "stack_mismatch",
                 .body = [] { stack({zeros({2}), zeros({3})}, 0); },
                 .error = "ShapeError",
                 .contains = {"stack", "[2]", "[3]"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "expand_non_singleton",
                 .body = [] { zeros({2, 3}).expand({4, 3}); },
                 .error = "ShapeError",
                 .contains = {"expand", "[2, 3]", "[4, 3]"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "permute_repeated_dim",
                 .body = [] { zeros({2, 3}).permute({0, 0}); },
                 .error = "ValueError",
                 .contains = {"permute"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "conv2d_channel_mismatch",
                 .body = [] { nn::functional::conv2d(zeros({1, 3, 8, 8}), zeros({4, 2, 3, 3})); },
                 .error = "ShapeError",
                 .contains = {"conv2d", "3", "2"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "conv2d_kernel_larger_than_input",
                 .body = [] { nn::functional::conv2d(zeros({1, 1, 2, 2}), zeros({1, 1, 3, 3})); },
                 .error = "ShapeError",
                 .contains = {"conv2d"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "conv2d_zero_stride",
                 .body =
                     [] {
                       nn::functional::conv2d(zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3}), {},
                                              {.stride = 0});
                     },
                 .error = "ValueError",
                 .contains = {"conv2d", "stride"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "linear_mismatch",
                 .body =
                     [] {
                       nn::Linear l(4, 2);
                       l(zeros({3, 5}));
                     },
                 .error = "ShapeError",
                 .contains = {"[3, 5]"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "max_pool_zero_kernel",
                 .body = [] { nn::functional::max_pool2d(zeros({1, 1, 4, 4}), 0); },
                 .error = "ValueError",
                 .contains = {"max_pool2d"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "cross_entropy_batch_mismatch",
                 .body =
                     [] {
                       nn::functional::cross_entropy(zeros({2, 3}),
                                                     tensor(std::vector<int64_t>{0, 1, 2}));
                     },
                 .error = "ShapeError",
                 .contains = {"2", "3"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "mse_loss_mismatch",
                 .body = [] { nn::functional::mse_loss(zeros({2, 3}), zeros({3, 2})); },
                 .error = "ShapeError",
                 .contains = {"mse_loss"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "split_zero_size",
                 .body = [] { zeros({4}).split(0, 0); },
                 .error = "ValueError",
                 .contains = {"split"}});
ROBUSTNESS_CASE({.group = "shape",
                 .name = "chunk_zero",
                 .body = [] { zeros({4}).chunk(0, 0); },
                 .error = "ValueError",
                 .contains = {"chunk"}});

// ---- dtype ----
ROBUSTNESS_CASE({.group = "dtype",
                 .name = "requires_grad_int",
                 .body = [] { zeros({2}, kInt64).requires_grad_(); },
                 .error = "DTypeError",
                 .contains = {"only tensors of floating point dtype can require gradients",
                              "int64"}});
ROBUSTNESS_CASE({.group = "dtype",
                 .name = "matmul_bool",
                 .body = [] { matmul(zeros({2, 2}, kBool), zeros({2, 2}, kBool)); },
                 .error = "DTypeError",
                 .contains = {"matmul", "bool"}});
ROBUSTNESS_CASE({.group = "dtype",
                 .name = "index_select_float_index",
                 .body = [] { index_select(zeros({4}), 0, zeros({2})); },
                 .error = "DTypeError",
                 .contains = {"index_select", "float32"}});
ROBUSTNESS_CASE({.group = "dtype",
                 .name = "embedding_float_indices",
                 .body = [] { nn::functional::embedding(zeros({2}), zeros({10, 4})); },
                 .error = "DTypeError",
                 .contains = {"embedding", "float32"}});
ROBUSTNESS_CASE({.group = "dtype",
                 .name = "cross_entropy_float_target",
                 .body =
                     [] { nn::functional::cross_entropy(zeros({2, 3}), zeros({2, 3}, kInt64)); },
                 .error = "DTypeError",
                 .contains = {"cross_entropy"}});
ROBUSTNESS_CASE({.group = "dtype",
                 .name = "set_default_dtype_int",
                 .body = [] { set_default_dtype(kInt64); },
                 .error = "DTypeError",
                 .contains = {"set_default_dtype", "int64"}});
ROBUSTNESS_CASE({.group = "dtype",
                 .name = "where_float_condition",
                 .body = [] { where(zeros({2}), zeros({2}), ones({2})); },
                 .error = "DTypeError",
                 .contains = {"where", "float32"}});
ROBUSTNESS_CASE({.group = "dtype",
                 .name = "inplace_float_into_int",
                 .body = [] { zeros({2}, kInt64).add_(ones({2}) * 0.5); },
                 .error = "DTypeError",
                 .contains = {"add_", "float32", "int64"}});
ROBUSTNESS_CASE({.group = "dtype",
                 .name = "data_ptr_wrong_type",
                 .body = [] { zeros({2}).data_ptr<double>(); },
                 .error = "DTypeError",
                 .contains = {"data_ptr", "float32"}});

// ---- value ----
ROBUSTNESS_CASE({.group = "value",
                 .name = "bernoulli_above_one",
                 .body = [] { bernoulli(tensor({0.5, 1.5})); },
                 .error = "ValueError",
                 .contains = {"bernoulli", "[0, 1]", "1.5", "element 1"}});
ROBUSTNESS_CASE({.group = "value",
                 .name = "bernoulli_negative",
                 .body = [] { bernoulli(tensor({-0.1})); },
                 .error = "ValueError",
                 .contains = {"bernoulli", "-0.1"}});
ROBUSTNESS_CASE({.group = "value",
                 .name = "bernoulli_nan",
                 .body = [] { bernoulli(tensor({0.2, NAN, 0.3})); },
                 .error = "ValueError",
                 .contains = {"bernoulli", "nan", "element 1"}});
ROBUSTNESS_CASE({.group = "value",
                 .name = "bernoulli_bounds_ok",
                 .body =
                     [] {
                       Tensor b = bernoulli(tensor({0.0, 1.0}));
                       require(b.to_vector<float>() == std::vector<float>{0, 1}, "p=0 and p=1");
                     },
                 .error = ""});
ROBUSTNESS_CASE({.group = "value",
                 .name = "dropout_p_above_one",
                 .body = [] { nn::functional::dropout(ones({4}), {.p = 1.5, .training = true}); },
                 .error = "ValueError",
                 .contains = {"dropout", "1.5"}});
ROBUSTNESS_CASE({.group = "value",
                 .name = "sgd_negative_lr",
                 .body =
                     [] {
                       Tensor w = zeros({2}).requires_grad_();
                       optim::SGD opt({w}, {.lr = -1});
                     },
                 .error = "ValueError",
                 .contains = {"SGD: Invalid learning rate: -1"}});
ROBUSTNESS_CASE({.group = "value",
                 .name = "dataloader_zero_batch",
                 .body =
                     [] {
                       data::TensorDataset ds(zeros({4, 2}), zeros({4}));
                       data::DataLoader loader(ds, {.batch_size = 0});
                     },
                 .error = "ValueError",
                 .contains = {"batch_size should be a positive integer value"}});
ROBUSTNESS_CASE({.group = "value",
                 .name = "linspace_negative_steps",
                 .body = [] { linspace(0, 1, -3); },
                 .error = "ValueError",
                 .contains = {"linspace", "-3"}});
ROBUSTNESS_CASE({.group = "value",
                 .name = "eye_negative",
                 .body = [] { eye(-2); },
                 .error = "ValueError",
                 .contains = {"eye", "-2"}});
ROBUSTNESS_CASE({.group = "value",
                 .name = "undefined_tensor_op",
                 .body =
                     [] {
                       Tensor t;
                       t.sizes();
                     },
                 .error = "Error",
                 .contains = {"sizes: the tensor is undefined"}});
ROBUSTNESS_CASE({.group = "value",
                 .name = "undefined_tensor_add",
                 .body =
                     [] {
                       Tensor t;
                       t + 1;
                     },
                 .error = "Error",
                 .contains = {"undefined"}});

// ---- integer overflow wraps (two's complement, as PyTorch), never undefined behaviour ----
ROBUSTNESS_CASE({.group = "value",
                 .name = "int64_sum_overflow_wraps",
                 .body =
                     [] {
                       Tensor t = tensor(std::vector<int64_t>{INT64_MAX, 1});
                       require(t.sum().item<int64_t>() == INT64_MIN, "INT64_MAX + 1");
                     },
                 .error = ""});
ROBUSTNESS_CASE({.group = "value",
                 .name = "int64_add_overflow_wraps",
                 .body =
                     [] {
                       Tensor t = tensor(std::vector<int64_t>{INT64_MAX, INT64_MIN});
                       Tensor u = t + tensor(std::vector<int64_t>{1, -1});
                       require(u.to_vector<int64_t>() == std::vector<int64_t>{INT64_MIN, INT64_MAX},
                               "wrapped sums");
                       require((t * 2).to_vector<int64_t>() == std::vector<int64_t>{-2, 0},
                               "wrapped products");
                     },
                 .error = ""});
ROBUSTNESS_CASE({.group = "value",
                 .name = "int64_unary_overflow_wraps",
                 .body =
                     [] {
                       Tensor t = tensor(std::vector<int64_t>{INT64_MIN, 5});
                       require((-t).to_vector<int64_t>() == std::vector<int64_t>{INT64_MIN, -5},
                               "-INT64_MIN wraps to itself");
                       require(abs(t).to_vector<int64_t>() == std::vector<int64_t>{INT64_MIN, 5},
                               "abs(INT64_MIN) wraps to itself");
                       require((t - 1).to_vector<int64_t>() == std::vector<int64_t>{INT64_MAX, 4},
                               "INT64_MIN - 1");
                       require(prod(t).item<int64_t>() == INT64_MIN,
                               "INT64_MIN * 5 wraps to INT64_MIN");
                     },
                 .error = ""});
