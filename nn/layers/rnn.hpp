// Recurrent layers: LSTM and GRU, as torch.nn's (gate order, parameter names weight_ih_l0,
// weight_hh_l0, bias_ih_l0, bias_hh_l0, weight_hr_l0 (LSTM with proj_size), ..._reverse,
// initialisation U(-1/sqrt(H), 1/sqrt(H))).
// Written from ember ops: the input projection of the whole sequence is one GEMM, then each
// step is one GEMM with the hidden state and pointwise gates, so autograd needs nothing new.
#pragma once

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "nn/module.hpp"

namespace ember::nn {

struct RNNOptions {
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;    ///< input and output [N, T, features] instead of [T, N, features]
  double dropout = 0.0;        ///< on the outputs of every layer but the last, in training
  bool bidirectional = false;  ///< a second, reversed pass per layer; outputs concatenated
  /// LSTM only: h_t = (o * tanh(c_t)) W_hr^T of proj_size (0 = none, else < hidden_size).
  int64_t proj_size = 0;
};

namespace detail {
/// What LSTM and GRU share: sizes, options and the weights of each layer and direction.
struct RNNBase {
  int64_t input_size = 0, hidden_size = 0;
  RNNOptions options;
  /// Per layer and direction (layer-major): weight_ih, weight_hh, bias_ih, bias_hh, weight_hr
  /// (the biases undefined without bias, weight_hr without proj_size). The same tensors as the
  /// registered parameters.
  std::vector<std::vector<Tensor>> weights;

  int64_t num_directions() const { return options.bidirectional ? 2 : 1; }
  /// The size of h: proj_size when set, else hidden_size.
  int64_t output_size() const { return options.proj_size > 0 ? options.proj_size : hidden_size; }

 protected:
  /// Registers the parameters in PyTorch's order with `gates` * hidden_size rows (and
  /// weight_hr [proj_size, hidden_size] after each direction's biases).
  void make_weights(ModuleBase& self, const char* name, int64_t gates, int64_t input_size,
                    int64_t hidden_size, RNNOptions options);
  /// Draws every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
  void reset(ModuleBase& self) const;
  std::string repr() const;
};
}  // namespace detail

/// Long short-term memory over a sequence: per step, with gates (i, f, g, o) =
/// x W_ih^T + b_ih + h W_hh^T + b_hh, c' = sigmoid(f) c + sigmoid(i) tanh(g),
/// h' = sigmoid(o) tanh(c') (times W_hr^T with proj_size: h has proj_size features, weight_hh
/// is [4H, proj_size], a layer above gets proj_size * num_directions inputs).
/// forward(input, {h0, c0}) returns (output, (h_n, c_n)).
struct LSTM : Module<LSTM>, detail::RNNBase {
  using State = std::tuple<Tensor, Tensor>;
  LSTM(int64_t input_size, int64_t hidden_size, RNNOptions options = {});
  /// input [T, N, input_size] ([N, T, ...] with batch_first, [T, input_size] unbatched); h0
  /// [num_layers * num_directions, N, proj_size or hidden_size] and c0 [num_layers *
  /// num_directions, N, hidden_size] (zeros when absent). output [T, N, num_directions *
  /// (proj_size or hidden_size)]; h_n shaped as h0, c_n as c0.
  std::tuple<Tensor, State> forward(const Tensor& input, std::optional<State> hx = std::nullopt);
  void reset_parameters() { reset(*this); }
  std::string extra_repr() const override { return repr(); }
};

/// Gated recurrent unit: r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr), z likewise,
/// n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)), h' = (1 - z) n + z h.
/// forward(input, h0) returns (output, h_n). proj_size must be 0, as PyTorch's.
struct GRU : Module<GRU>, detail::RNNBase {
  GRU(int64_t input_size, int64_t hidden_size, RNNOptions options = {});
  /// Shapes as LSTM's; h0 undefined means zeros.
  std::tuple<Tensor, Tensor> forward(const Tensor& input, const Tensor& hx = {});
  void reset_parameters() { reset(*this); }
  std::string extra_repr() const override { return repr(); }
};

}  // namespace ember::nn
