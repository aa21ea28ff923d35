// Environment values: strict parsing, one warning, the default used; never a silent misreading.
#include "corpus.hpp"
#include "ember.hpp"
#include "runtime/env.hpp"

using namespace ember;
using namespace robust;

namespace {
// A convolution, so that EMBER_CONV is read.
void conv() {
  Tensor y = nn::functional::conv2d(ones({1, 1, 4, 4}), ones({1, 1, 3, 3}));
  require(y.sum().item<float>() == 36, "conv2d result");
}
}  // namespace

ROBUSTNESS_CASE({.group = "env",
                 .name = "conv_backend_garbage",
                 .body = conv,
                 .error = "",
                 .env = {"EMBER_CONV=fastest"},
                 .stderr_contains = {
                     "EMBER_CONV=fastest is not one of im2col, dnnl; using the default"}});
ROBUSTNESS_CASE({.group = "env",
                 .name = "conv_backend_upper_case",
                 .body =
                     [] {
                       conv();
                       require(env::choice("EMBER_CONV", {"im2col", "dnnl"}, "dnnl") == "im2col",
                               "IM2COL is im2col");
                     },
                 .error = "",
                 .env = {"EMBER_CONV=IM2COL"}});
ROBUSTNESS_CASE({.group = "env",
                 .name = "flag_words",
                 .body =
                     [] {
                       require(env::flag("EMBER_T_ON", false) && env::flag("EMBER_T_YES", false) &&
                                   !env::flag("EMBER_T_OFF", true) &&
                                   !env::flag("EMBER_T_FALSE", true),
                               "on/yes/off/false");
                       require(
                           env::flag("EMBER_T_UNSET", true) && !env::flag("EMBER_T_EMPTY", false),
                           "unset/empty give the default");
                     },
                 .error = "",
                 .env = {"EMBER_T_ON=on", "EMBER_T_YES=Yes", "EMBER_T_OFF=off",
                         "EMBER_T_FALSE=FALSE", "EMBER_T_EMPTY="}});
ROBUSTNESS_CASE({.group = "env",
                 .name = "flag_garbage_warns_and_defaults",
                 .body =
                     [] {
                       require(env::flag("EMBER_T_FLAG", true) && env::flag("EMBER_T_FLAG", true),
                               "default kept");
                     },
                 .error = "",
                 .env = {"EMBER_T_FLAG=maybe"},
                 .stderr_contains = {"EMBER_T_FLAG=maybe is not a switch",
                                     "using the default (on)"}});
ROBUSTNESS_CASE(
    {.group = "env",
     .name = "integer_past_int64",
     .body = [] { require(env::integer("EMBER_T_INT", 2, 1, 1000000) == 2, "default kept"); },
     .error = "",
     .env = {"EMBER_T_INT=99999999999999999999"},
     .stderr_contains = {"EMBER_T_INT=99999999999999999999 is not a whole number in [1, 1000000]",
                         "using the default (2)"}});
ROBUSTNESS_CASE(
    {.group = "env",
     .name = "integer_out_of_range",
     .body = [] { require(env::integer("EMBER_T_INT", 2, 1, 1000000) == 2, "default"); },
     .error = "",
     .env = {"EMBER_T_INT=99999999999"},
     .stderr_contains = {"EMBER_T_INT=99999999999 is not a whole number in [1, 1000000]"}});
ROBUSTNESS_CASE({.group = "env",
                 .name = "integer_trailing_garbage",
                 .body = [] { require(env::integer("EMBER_T_INT", 2, 0, 100) == 2, "default"); },
                 .error = "",
                 .env = {"EMBER_T_INT=12abc"},
                 .stderr_contains = {"EMBER_T_INT=12abc is not a whole number in [0, 100]"}});
ROBUSTNESS_CASE({.group = "env",
                 .name = "integer_ok",
                 .body = [] { require(env::integer("EMBER_T_INT", 2, 0, 100) == 42, "42"); },
                 .error = "",
                 .env = {"EMBER_T_INT= 42 "}});
ROBUSTNESS_CASE({.group = "env",
                 .name = "fashion_mnist_root_missing",
                 .body = [] { data::FashionMNIST ds(data::Split::test); },
                 .error = "Error",
                 .contains = {"/nonexistent/from-env/t10k-labels-idx1-ubyte.gz",
                              "EMBER_FASHION_MNIST"},
                 .env = {"EMBER_FASHION_MNIST=/nonexistent/from-env"}});
