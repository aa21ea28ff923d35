// The derivative table, pointwise rows: every op with a dsl definition (dsl/builtins.hpp) gets
// its row by differentiating that definition at compile time; clamp, where and the copies are
// written here.
#include "runtime/autograd/rows.hpp"
#include "runtime/ops/dsl_loops.hpp"
#include "runtime/ops/pointwise_defs.hpp"
#include "runtime/shape.hpp"

namespace ember::autograd::rows {
namespace {

// A row from the op's dsl definition: d op / d x_j differentiated at compile time and run as
// one fused pass over all inputs that need a gradient (runtime/ops/dsl_loops.hpp).
template <class Def>
using ExprOf = std::decay_t<decltype(Def::expr)>;

// Inputs the gradients named by `needs` read: the variables of their derivative formulas.
template <class Def, size_t N>
unsigned inputs_for(unsigned needs) {
  unsigned used = 0;
  [&]<size_t... J>(std::index_sequence<J...>) {
    ((needs >> J & 1u
          ? void(used |= dsl::vars_used<decltype(dsl::diff<static_cast<int>(J)>(Def::expr))>::value)
          : void()),
     ...);
  }(std::make_index_sequence<N>{});
  return used;
}

template <class Def, size_t N>
TensorList dsl_row(const Ctx& c, const TensorList& g, const char* name) {
  if (!g[0].defined()) return TensorList(N);
  DType d = g[0].dtype();
  std::vector<Tensor> in;
  std::vector<bool> needs;
  for (size_t i = 0; i < N; ++i) {
    // An input no needed gradient reads was not saved; its slot is never read, so g stands in.
    Tensor x = dsl::detail::needs_inputs<ExprOf<Def>>() ? c.input(i) : Tensor();
    in.push_back(x.defined() ? cast(x, d) : g[0]);
    needs.push_back(c.needs_grad(i));
  }
  auto r = dsl::detail::gradients(call_expr<Def>(c.attrs()), in, g[0], needs, name);
  TensorList out(N);
  for (size_t i = 0; i < N; ++i) out[i] = like_input(c, i, r[i]);
  return out;
}

template <Op op, size_t N>
void dsl_rows(Table& t) {
  using Def = dsl_def_t<op>;
  constexpr bool save = dsl::detail::needs_inputs<ExprOf<Def>>();
  row(t, op, {.save_inputs = save, .inputs_for = inputs_for<Def, N>},
      [](const Ctx& c, const TensorList& g) -> TensorList {
        return dsl_row<Def, N>(c, g, op_name(op));
      });
}

}  // namespace

void fill_pointwise(Table& t) {
  // Every op with a dsl definition gets its row from that definition.
  dsl_rows<Op::Neg, 1>(t);
  dsl_rows<Op::Abs, 1>(t);
  dsl_rows<Op::Exp, 1>(t);
  dsl_rows<Op::Log, 1>(t);
  dsl_rows<Op::Log1p, 1>(t);
  dsl_rows<Op::Expm1, 1>(t);
  dsl_rows<Op::Sqrt, 1>(t);
  dsl_rows<Op::Rsqrt, 1>(t);
  dsl_rows<Op::Sin, 1>(t);
  dsl_rows<Op::Cos, 1>(t);
  dsl_rows<Op::Tanh, 1>(t);
  dsl_rows<Op::Sigmoid, 1>(t);
  dsl_rows<Op::Relu, 1>(t);
  dsl_rows<Op::Silu, 1>(t);
  dsl_rows<Op::Erf, 1>(t);
  dsl_rows<Op::Sign, 1>(t);
  dsl_rows<Op::LeakyRelu, 1>(t);
  dsl_rows<Op::Elu, 1>(t);
  dsl_rows<Op::Hardtanh, 1>(t);
  dsl_rows<Op::Mish, 1>(t);
  dsl_rows<Op::Hardswish, 1>(t);
  dsl_rows<Op::Softplus, 1>(t);
  dsl_rows<Op::Add, 2>(t);
  dsl_rows<Op::Sub, 2>(t);
  dsl_rows<Op::Mul, 2>(t);
  dsl_rows<Op::Div, 2>(t);
  dsl_rows<Op::Pow, 2>(t);
  dsl_rows<Op::Maximum, 2>(t);
  dsl_rows<Op::Minimum, 2>(t);
  // gelu: the erf or the tanh definition, as the call chose
  row(t, Op::Gelu, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    if (std::get<GeluAttrs>(c.attrs()).tanh)
      return dsl_row<dsl::builtin::gelu_tanh, 1>(c, g, "gelu");
    return dsl_row<dsl::builtin::gelu, 1>(c, g, "gelu");
  });
  // d/dx clamp(x, lo, hi) = [lo <= x <= hi]
  row(t, Op::Clamp, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    const auto& a = std::get<ClampAttrs>(c.attrs());
    Tensor x = c.input(0);
    Tensor m = ones_like(x, kBool);
    if (a.min) m = m && (x >= *a.min);
    if (a.max) m = m && (x <= *a.max);
    return {like_input(c, 0, g[0] * mask_of(m, g[0]))};
  });
  // d where(c, a, b) = (-, [c], [!c])
  row(t, Op::Where, {.save_inputs = true}, [](const Ctx& c, const TensorList& g) -> TensorList {
    Tensor cond = c.input(0), z = zeros_like(g[0]);
    return {Tensor(), like_input(c, 1, where(cond, g[0], z)),
            like_input(c, 2, where(cond, z, g[0]))};
  });
  for (Op op : {Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::LogicalAnd, Op::LogicalOr,
                Op::LogicalNot, Op::Argmax, Op::Argmin})
    nondiff(t, op);
  // to(dtype): the gradient converted back
  row(t, Op::ToDtype, {},
      [](const Ctx& c, const TensorList& g) -> TensorList { return {like_input(c, 0, g[0])}; });
  row(t, Op::Clone, {},
      [](const Ctx& c, const TensorList& g) -> TensorList { return {like_input(c, 0, g[0])}; });
  // dst.copy_(src): the old dst value is overwritten (no gradient), src gets g
  row(t, Op::Copy_, {}, [](const Ctx& c, const TensorList& g) -> TensorList {
    return {Tensor(), like_input(c, 1, g[0])};
  });
  row(t, Op::Fill_, {},
      [](const Ctx&, const TensorList&) -> TensorList { return {Tensor(), Tensor()}; });
}

}  // namespace ember::autograd::rows
