// The JIT's IR and passes, on graphs built by hand: hash-consing, the printer, the verifier,
// constant folding, CSE, DCE and the fusion plan.
#include <catch2/catch.hpp>

#include "jit/ir/graph.hpp"
#include "jit/passes/passes.hpp"
#include "runtime/error.hpp"
#include "runtime/tensor.hpp"

using namespace ember;
using namespace ember::jit;

namespace {

int32_t input(Graph& g, int32_t index, Dims sizes) {
  IrNode n;
  n.kind = Kind::Input;
  n.input = index;
  n.sizes = sizes;
  n.strides = contiguous_strides(sizes);
  return g.add(std::move(n));
}
int32_t constant(Graph& g, double v) {
  IrNode n;
  n.kind = Kind::Const;
  n.dtype = kFloat64;
  n.value = v;
  return g.add(std::move(n));
}
int32_t apply(Graph& g, Op op, std::vector<int32_t> args, Dims sizes, Attrs attrs = {}) {
  IrNode n;
  n.op = op;
  n.args = std::move(args);
  n.sizes = sizes;
  n.attrs = std::move(attrs);
  return g.add(std::move(n));
}

}  // namespace

TEST_CASE("graph nodes are hash-consed", "[jit][ir]") {
  Graph g;
  int32_t x = input(g, 0, {4, 8});
  int32_t two = constant(g, 2);
  int32_t a = apply(g, Op::Mul, {x, two}, {4, 8});
  int32_t b = apply(g, Op::Mul, {x, two}, {4, 8});
  REQUIRE(a == b);
  REQUIRE(constant(g, 2) == two);
  REQUIRE(constant(g, 3) != two);
  REQUIRE(apply(g, Op::Mul, {two, x}, {4, 8}) != a);  // operand order matters
  REQUIRE(input(g, 1, {4, 8}) != x);                  // a second input is a new node
  REQUIRE(g.size() == 6);
}

TEST_CASE("the printer and the signature", "[jit][ir]") {
  Graph g;
  int32_t x = input(g, 0, {4, 8});
  int32_t y = apply(g, Op::Exp, {x}, {4, 8});
  int32_t s = apply(g, Op::Sum, {y}, {4}, ReduceAttrs{{1}, false});
  g.outputs = {s};
  std::string text = g.to_string();
  CHECK(text.find("%0 = input[0] f32[4,8] strides [8,1]") != std::string::npos);
  CHECK(text.find("%1 = exp %0 : f32[4,8]") != std::string::npos);
  CHECK(text.find("%2 = sum %1 {dims=[1],keepdim=0,correction=1} : f32[4]") != std::string::npos);
  CHECK(text.find("outputs %2") != std::string::npos);

  Graph h;  // the same graph on a transposed input has another signature
  IrNode in;
  in.kind = Kind::Input;
  in.input = 0;
  in.sizes = {4, 8};
  in.strides = {1, 4};
  int32_t hx = h.add(in);
  int32_t hy = apply(h, Op::Exp, {hx}, {4, 8});
  h.outputs = {apply(h, Op::Sum, {hy}, {4}, ReduceAttrs{{1}, false})};
  CHECK(h.signature() != g.signature());
  h.mutable_node(hx).strides = {8, 1};
  // (mutating a node bypasses interning, but the signature is recomputed from the nodes)
  CHECK(h.signature() == g.signature());
}

TEST_CASE("the verifier rejects malformed graphs", "[jit][ir]") {
  Graph g;
  int32_t x = input(g, 0, {3});
  apply(g, Op::Neg, {x}, {3});
  g.outputs = {1};
  REQUIRE_NOTHROW(g.verify());
  g.mutable_node(1).args = {1};
  REQUIRE_THROWS_WITH(g.verify(), Catch::Contains("uses %1, which does not precede it"));
  REQUIRE_THROWS_AS(g.verify(), InternalError);  // a JIT bug, not a user's error
  g.mutable_node(1).args = {x};
  g.outputs = {7};
  REQUIRE_THROWS_WITH(g.verify(), Catch::Contains("output %7"));
}

TEST_CASE("fold, cse and dce", "[jit][passes]") {
  Graph g;
  int32_t x = input(g, 0, {16});
  int32_t one = constant(g, 1);
  int32_t zero = constant(g, 0);
  int32_t x1 = apply(g, Op::Mul, {x, one}, {16});  // x * 1 -> x
  int32_t e1 = apply(g, Op::Exp, {x1}, {16});
  int32_t e2 = apply(g, Op::Exp, {x}, {16});  // equal to e1 once x*1 is folded
  int32_t s = apply(g, Op::Add, {e1, e2}, {16});
  int32_t s0 = apply(g, Op::Add, {s, zero}, {16});                      // + 0 -> s
  int32_t c = apply(g, Op::Mul, {constant(g, 3), constant(g, 4)}, {});  // 3 * 4 -> 12
  int32_t r = apply(g, Op::Mul, {s0, c}, {16});
  apply(g, Op::Tanh, {x}, {16});  // dead
  g.outputs = {r};

  Graph o = dce(cse(fold(g)));
  REQUIRE_NOTHROW(o.verify());
  std::string text = o.to_string();
  INFO(text);
  // left: the input, exp once, add, the constant 12, the product
  CHECK(o.size() == 5);
  CHECK(text.find("tanh") == std::string::npos);
  CHECK(text.find("const f32 12") != std::string::npos);  // the product node was f32
  const IrNode& out = o[o.outputs[0]];
  CHECK(out.op == Op::Mul);
  CHECK(o[out.args[0]].op == Op::Add);
  CHECK(o[o[out.args[0]].args[0]].op == Op::Exp);
  CHECK(o[out.args[0]].args[0] == o[out.args[0]].args[1]);
}

TEST_CASE("folding keeps outputs and changes of shape", "[jit][passes]") {
  Graph g;
  int32_t x = input(g, 0, {4});
  int32_t one = constant(g, 1);
  int32_t kept = apply(g, Op::Mul, {x, one}, {4});  // an output: stays
  int32_t y = input(g, 1, {1});
  int32_t wide = apply(g, Op::Add, {y, constant(g, 0)}, {1});
  int32_t b = apply(g, Op::Mul, {wide, x}, {4});
  g.outputs = {kept, b};
  Graph o = dce(cse(fold(g)));
  CHECK(o[o.outputs[0]].op == Op::Mul);
  CHECK(o[o.outputs[0]].kind == Kind::Apply);
}

TEST_CASE("fusion: pointwise chains, reductions as epilogues, library calls", "[jit][passes]") {
  Graph g;
  int32_t x = input(g, 0, {64, 32});
  int32_t w = input(g, 1, {32, 16});
  int32_t a = apply(g, Op::Exp, {x}, {64, 32});
  int32_t b = apply(g, Op::Mul, {a, constant(g, 2)}, {64, 32});  // inlined
  int32_t m = apply(g, Op::Matmul, {b, w}, {64, 16});            // b must be in memory
  int32_t t = apply(g, Op::Tanh, {m}, {64, 16});
  int32_t s = apply(g, Op::Softmax, {t}, {64, 16}, DimAttrs{1});
  int32_t sum = apply(g, Op::Sum, {s}, {64}, ReduceAttrs{{1}, false});
  int32_t u = apply(g, Op::Neg, {s}, {64, 16});
  g.outputs = {sum, u};

  std::vector<bool> mat = materialized(g);
  CHECK(mat[static_cast<size_t>(b)]);
  CHECK_FALSE(mat[static_cast<size_t>(a)]);
  CHECK_FALSE(mat[static_cast<size_t>(t)]);
  std::vector<Group> steps = fuse(g);
  REQUIRE(steps.size() == 5);
  CHECK(steps[0].kind == Group::Kind::Pointwise);  // exp(x) * 2
  CHECK(steps[0].roots == std::vector<int32_t>{b});
  CHECK(steps[1].kind == Group::Kind::Library);
  CHECK(steps[2].kind == Group::Kind::Softmax);  // softmax(tanh(m)): tanh inlined
  CHECK(steps[2].roots == std::vector<int32_t>{s});
  CHECK(steps[3].kind == Group::Kind::Reduce);
  CHECK(steps[4].kind == Group::Kind::Pointwise);
  CHECK(steps[4].roots == std::vector<int32_t>{u});
}

TEST_CASE("fusion: pointwise outputs of one shape share a kernel", "[jit][passes]") {
  Graph g;
  int32_t x = input(g, 0, {8, 8});
  int32_t a = apply(g, Op::Sigmoid, {x}, {8, 8});
  int32_t b = apply(g, Op::Mul, {a, x}, {8, 8});
  int32_t c = apply(g, Op::Sum, {b}, {8}, ReduceAttrs{{0}, false});
  int32_t d = apply(g, Op::Add, {b, constant(g, 1)}, {8, 8});
  int32_t e = apply(g, Op::Sub, {b, c}, {8, 8});  // reads the reduction: after it
  g.outputs = {a, b, c, d, e};
  std::vector<Group> steps = fuse(g);
  REQUIRE(steps.size() == 3);
  // d does not read the reduction: it joins the first kernel, past the reduction
  CHECK(steps[0].roots == std::vector<int32_t>{a, b, d});
  CHECK(steps[1].kind == Group::Kind::Reduce);
  CHECK(steps[2].roots == std::vector<int32_t>{e});
}

TEST_CASE("fusion: a view of a computed value is read in place", "[jit][passes]") {
  Graph g;
  int32_t x = input(g, 0, {4, 6});
  int32_t e = apply(g, Op::Exp, {x}, {4, 6});
  IrNode v;  // e.t()
  v.op = Op::View;
  v.args = {e};
  v.sizes = {6, 4};
  v.strides = {1, 6};
  int32_t t = g.add(v);
  int32_t y = input(g, 1, {6, 4});
  int32_t s = apply(g, Op::Add, {t, y}, {6, 4});
  g.outputs = {s};
  CHECK(g.to_string().find("view %1 strides [1,6] offset 0 : f32[6,4]") != std::string::npos);
  v.strides = {1, 5};
  CHECK(g.add(v) != t);  // other strides, another node
  std::vector<bool> mat = materialized(g);
  CHECK(mat[static_cast<size_t>(e)]);  // the viewed value goes to memory
  CHECK_FALSE(mat[static_cast<size_t>(t)]);
  std::vector<Group> steps = fuse(g);
  REQUIRE(steps.size() == 2);
  CHECK(steps[0].roots == std::vector<int32_t>{e});
  CHECK(steps[1].roots == std::vector<int32_t>{s});
}

TEST_CASE("fusion: reductions over the last dim and their pointwise readers share rows",
          "[jit][passes]") {
  auto keep_last = ReduceAttrs{{1}, true};
  {  // softmax written out: amax, sum of exp(x - max), exp(x - max) / sum: one Rows step
    Graph g;
    int32_t x = input(g, 0, {4, 6});
    int32_t mx = apply(g, Op::Amax, {x}, {4, 1}, keep_last);
    int32_t e = apply(g, Op::Exp, {apply(g, Op::Sub, {x, mx}, {4, 6})}, {4, 6});
    int32_t s = apply(g, Op::Sum, {e}, {4, 1}, keep_last);
    int32_t y = apply(g, Op::Div, {e, s}, {4, 6});
    g.outputs = {y};
    std::vector<Group> steps = fuse(g);
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].kind == Group::Kind::RowReduce);
    CHECK(steps[0].roots == std::vector<int32_t>{mx, s, y});
    CHECK(steps[0].space == Dims{4, 6});
  }
  {  // not per row: a reduction without keepdim broadcasts along the other dim
    Graph g;
    int32_t x = input(g, 0, {6, 6});
    int32_t s = apply(g, Op::Sum, {x}, {6}, ReduceAttrs{{1}, false});
    int32_t y = apply(g, Op::Sub, {x, s}, {6, 6});
    g.outputs = {y};
    std::vector<Group> steps = fuse(g);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].kind == Group::Kind::Reduce);
    CHECK(steps[1].kind == Group::Kind::Pointwise);
  }
  {  // not per row: a reduction over the first dim
    Graph g;
    int32_t x = input(g, 0, {4, 6});
    int32_t s = apply(g, Op::Sum, {x}, {1, 6}, ReduceAttrs{{0}, true});
    int32_t y = apply(g, Op::Sub, {x, s}, {4, 6});
    g.outputs = {y};
    std::vector<Group> steps = fuse(g);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].kind == Group::Kind::Reduce);
  }
  {  // a reduction read through a view needs all of it in memory: its own step
    Graph g;
    int32_t x = input(g, 0, {4, 4});
    int32_t s = apply(g, Op::Sum, {x}, {4, 1}, keep_last);
    IrNode v;  // s seen as [1, 4], broadcast down the columns
    v.op = Op::View;
    v.args = {s};
    v.sizes = {1, 4};
    v.strides = {4, 1};
    int32_t t = g.add(v);
    int32_t y = apply(g, Op::Sub, {x, t}, {4, 4});
    g.outputs = {y};
    std::vector<Group> steps = fuse(g);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].kind == Group::Kind::Reduce);
    CHECK(steps[1].kind == Group::Kind::Pointwise);
  }
  {  // a reduction of a Rows step's pointwise result comes after the step
    Graph g;
    int32_t x = input(g, 0, {4, 6});
    int32_t m = apply(g, Op::Mean, {x}, {4, 1}, keep_last);
    int32_t d = apply(g, Op::Sub, {x, m}, {4, 6});
    int32_t s = apply(g, Op::Sum, {d}, {4, 1}, keep_last);
    g.outputs = {d, s};
    std::vector<Group> steps = fuse(g);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].kind == Group::Kind::RowReduce);
    CHECK(steps[0].roots == std::vector<int32_t>{m, d});
    CHECK(steps[1].kind == Group::Kind::Reduce);
  }
}

TEST_CASE("fusion: a costly value several kernels read is computed once", "[jit][passes]") {
  // A gelu derivative as in a layer norm's backward: dy * (erf(x) + exp(-x * x)), read by a
  // reduction over the rows, one over the columns and a pointwise output.
  Graph g;
  int32_t x = input(g, 0, {8, 16});
  int32_t dy = input(g, 1, {8, 16});
  int32_t e = apply(g, Op::Erf, {x}, {8, 16});
  int32_t sq = apply(g, Op::Mul, {x, x}, {8, 16});
  int32_t ex = apply(g, Op::Exp, {apply(g, Op::Neg, {sq}, {8, 16})}, {8, 16});
  int32_t d = apply(g, Op::Mul, {dy, apply(g, Op::Add, {e, ex}, {8, 16})}, {8, 16});
  int32_t scaled = apply(g, Op::Mul, {d, constant(g, 3)}, {8, 16});  // cheap once d is stored
  int32_t rows = apply(g, Op::Sum, {scaled}, {8, 1}, ReduceAttrs{{1}, true});
  int32_t cols = apply(g, Op::Sum, {d}, {16}, ReduceAttrs{{0}, false});
  int32_t out = apply(g, Op::Sub, {scaled, rows}, {8, 16});
  int32_t cheap = apply(g, Op::Add, {x, dy}, {8, 16});  // shared, but no costly function
  int32_t c1 = apply(g, Op::Sum, {cheap}, {16}, ReduceAttrs{{0}, false});
  int32_t c2 = apply(g, Op::Mean, {cheap}, {16}, ReduceAttrs{{0}, false});
  g.outputs = {out, cols, c1, c2};

  std::vector<bool> mat = materialized(g);
  CHECK(mat[static_cast<size_t>(d)]);  // the widest-read costly node, once
  CHECK_FALSE(mat[static_cast<size_t>(e)]);
  CHECK_FALSE(mat[static_cast<size_t>(ex)]);
  CHECK_FALSE(mat[static_cast<size_t>(scaled)]);  // only a multiplication of d after that
  CHECK_FALSE(mat[static_cast<size_t>(cheap)]);
  std::vector<Group> steps = fuse(g);
  REQUIRE(steps.size() == 3);
  CHECK(steps[0].kind == Group::Kind::Pointwise);
  CHECK(steps[0].roots == std::vector<int32_t>{d});
  CHECK(steps[1].kind == Group::Kind::RowReduce);  // rows, then out, reading d from memory
  CHECK(steps[1].roots == std::vector<int32_t>{rows, out});
  CHECK(steps[2].kind == Group::Kind::Reduce);  // the column sums in one walk
  CHECK(steps[2].roots == std::vector<int32_t>{cols, c1, c2});
}

TEST_CASE("fusion: sums over the same space and dims share one step", "[jit][passes]") {
  // A batch norm backward's channel sums of g and of g * xh over [N, C, H, W]: one walk.
  Graph g;
  const Dims s{4, 3, 5, 6}, c{1, 3, 1, 1};
  int32_t gy = input(g, 0, s), xh = input(g, 1, s);
  const ReduceAttrs channels{{0, 2, 3}, true};
  int32_t sg = apply(g, Op::Sum, {gy}, c, channels);
  int32_t sgx = apply(g, Op::Sum, {apply(g, Op::Mul, {gy, xh}, s)}, c, channels);
  int32_t m = apply(g, Op::Mean, {xh}, c, channels);
  int32_t mx = apply(g, Op::Amax, {xh}, c, channels);  // another accumulator: apart
  int32_t s2 = apply(g, Op::Sum, {apply(g, Op::Mul, {gy, sg}, s)}, c, channels);  // reads sg
  g.outputs = {sg, sgx, m, mx, s2};
  std::vector<Group> steps = fuse(g);
  REQUIRE(steps.size() == 3);
  CHECK(steps[0].roots == std::vector<int32_t>{sg, sgx, m});
  CHECK(steps[1].roots == std::vector<int32_t>{mx});
  CHECK(steps[2].roots == std::vector<int32_t>{s2});
}

TEST_CASE("fusion: a shared value whose cone reads many arrays is stored once", "[jit][passes]") {
  // A ReLU's gradient in a residual net, gy * relu(a + b), widened to double and read by three
  // kernels (a column sum, a column max and a pointwise output): inlined, each reads gy, a and b
  // (9 arrays); stored, 3 + 1 + 3. It is stored as the float it is computed in, not as the
  // double.
  Graph g;
  const Dims s{8, 16};
  int32_t gy = input(g, 0, s), a = input(g, 1, s), b = input(g, 2, s), x = input(g, 3, s);
  int32_t masked =
      apply(g, Op::Mul, {gy, apply(g, Op::Relu, {apply(g, Op::Add, {a, b}, s)}, s)}, s);
  IrNode wide;
  wide.op = Op::ToDtype;
  wide.args = {masked};
  wide.sizes = s;
  wide.dtype = wide.compute = kFloat64;
  wide.attrs = DTypeAttrs{kFloat64};
  int32_t w = g.add(wide);
  int32_t sum_g = apply(g, Op::Sum, {w}, {1, 16}, ReduceAttrs{{0}, true});
  int32_t max_gx =
      apply(g, Op::Amax, {apply(g, Op::Mul, {w, x}, s)}, {1, 16}, ReduceAttrs{{0}, true});
  int32_t gx = apply(g, Op::Sub, {w, apply(g, Op::Add, {sum_g, max_gx}, {1, 16})}, s);
  g.outputs = {gx};
  std::vector<bool> mat = materialized(g);
  CHECK(mat[static_cast<size_t>(masked)]);
  CHECK_FALSE(mat[static_cast<size_t>(w)]);
  // Two kernels reading it: 2 x 3 arrays inlined against 3 + 1 + 2 stored, so not stored.
  Graph h;
  gy = input(h, 0, s), a = input(h, 1, s), b = input(h, 2, s);
  masked = apply(h, Op::Mul, {gy, apply(h, Op::Relu, {apply(h, Op::Add, {a, b}, s)}, s)}, s);
  h.outputs = {apply(h, Op::Sum, {masked}, {1, 16}, ReduceAttrs{{0}, true}),
               apply(h, Op::Sum, {masked}, {8, 1}, ReduceAttrs{{1}, true})};
  CHECK_FALSE(materialized(h)[static_cast<size_t>(masked)]);
}

TEST_CASE("split_reductions: a whole reduction of a large operand runs in two steps",
          "[jit][passes]") {
  for (bool keepdim : {false, true}) {
    Graph g;
    int32_t x = input(g, 0, {16, 64, 96});
    int32_t sq = apply(g, Op::Mul, {x, x}, {16, 64, 96});
    int32_t m =
        apply(g, Op::Mean, {sq}, keepdim ? Dims{1, 1, 1} : Dims{}, ReduceAttrs{{}, keepdim});
    int32_t small = apply(g, Op::Sum, {input(g, 1, {4, 8})}, {}, ReduceAttrs{{}, false});
    g.outputs = {m, small};
    Graph s = split_reductions(g);
    s.verify();
    INFO(s.to_string());
    REQUIRE(s.size() == g.size() + 1);  // one partial reduction more; the small sum stays
    const IrNode& whole = s[s.outputs[0]];
    const IrNode& part = s[whole.args[0]];
    CHECK(whole.op == Op::Mean);
    CHECK(whole.sizes == g[m].sizes);
    CHECK(part.op == Op::Mean);
    CHECK(part.sizes == (keepdim ? Dims{16, 1, 1} : Dims{16}));
    CHECK(std::get<ReduceAttrs>(part.attrs).dims == Dims{1, 2});
    CHECK(s[part.args[0]].op == Op::Mul);
    CHECK(std::get<ReduceAttrs>(s[s.outputs[1]].attrs).dims.empty());
    std::vector<Group> steps = fuse(s);
    REQUIRE(steps.size() == 3);
    CHECK(steps[0].space == Dims{16, 64, 96});  // over 16 items, the square inlined
  }
}

TEST_CASE("signature: an input's offset counts only where its memory is shared or written",
          "[jit][ir]") {
  // x at `offset` in storage 0; y in storage `y_storage`; x * y; optionally written back into 0.
  auto graph = [](double offset, int32_t y_storage, bool write) {
    Graph g;
    IrNode x;
    x.kind = Kind::Input;
    x.input = 0;
    x.sizes = {4, 8};
    x.strides = {8, 1};
    x.storage = 0;
    x.value = offset;
    IrNode y = x;
    y.input = 1;
    y.storage = y_storage;
    y.value = 0;
    int32_t xi = g.add(x), yi = g.add(y);
    int32_t m = apply(g, Op::Mul, {xi, yi}, {4, 8});
    g.outputs = {m};
    if (write) g.writes.push_back({m, 0});
    return g.signature();
  };
  // a batch sliced at another offset of its own memory: the same signature
  CHECK(graph(0, 1, false) == graph(32, 1, false));
  // the memory another input reads (x and y overlap or not) or the graph writes: offsets count
  CHECK(graph(0, 0, false) != graph(32, 0, false));
  CHECK(graph(0, 1, true) != graph(32, 1, true));
}

TEST_CASE("fusion: a deep chain of shared costly values stays bounded", "[jit][passes]") {
  // x_{i+1} = exp(x_i) * exp(x_i) sixty times: its cone counts 2^60 costly calls along paths.
  Graph g;
  int32_t x = input(g, 0, {4, 8});
  for (int i = 0; i < 60; ++i) {
    int32_t e = apply(g, Op::Exp, {x}, {4, 8});
    x = apply(g, Op::Mul, {e, e}, {4, 8});
  }
  int32_t s0 = apply(g, Op::Sum, {x}, {8}, ReduceAttrs{{0}, false});
  int32_t s1 = apply(g, Op::Sum, {x}, {4}, ReduceAttrs{{1}, false});
  g.outputs = {s0, s1};
  std::vector<bool> mat = materialized(g);
  CHECK(mat[static_cast<size_t>(x)]);  // read by both reductions: computed once
  CHECK(fuse(g).size() == 3);
}
