#include "gpu/ops/binary.h"

#include <string_view>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/kernel_variant.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// Plain NumPy-style reference over contiguous inputs.
std::vector<float> reference(BinaryOp op, const std::vector<float>& a, const Shape& sa, const std::vector<float>& b,
                             const Shape& sb, float alpha = 1.0f, float beta = 1.0f) {
  Shape out = broadcast_shape(sa, sb);
  std::vector<float> r(static_cast<size_t>(numel(out)));
  auto index_into = [&](const Shape& s, int64_t flat) {
    Shape strides = contiguous_strides(s);
    int64_t idx = 0, rest = flat;
    for (size_t d = out.size(); d-- > 0;) {
      int64_t c = rest % out[d];
      rest /= out[d];
      size_t lead = out.size() - s.size();
      if (d >= lead && s[d - lead] != 1) idx += c * strides[d - lead];
    }
    return static_cast<size_t>(idx);
  };
  for (int64_t i = 0; i < numel(out); ++i) {
    // volatile: each product rounded on its own, as the shader's `precise` makes it (no contraction to fma).
    volatile float x = alpha * a[index_into(sa, i)], y = beta * b[index_into(sb, i)];
    float v = op == BinaryOp::Add ? x + y : op == BinaryOp::Sub ? x - y : op == BinaryOp::Mul ? x * y : x / y;
    r[static_cast<size_t>(i)] = v;
  }
  return r;
}

struct Case {
  Shape a, b;
};

TEST_F(GpuTest, BinaryMatchesReferenceWithBroadcasting) {
  const Case cases[] = {{{1}, {1}},           {{7}, {7}},         {{3, 5}, {5}},        {{3, 1}, {1, 4}},
                        {{2, 3, 5}, {3, 1}},  {{1000}, {1}},      {{17, 33}, {17, 33}}, {{2, 1, 3, 1, 5, 2}, {4, 3, 1, 1, 1}},
                        {{300, 301}, {301}},  {{2, 9, 12}, {12}},  {{2, 9, 12}, {2, 1, 12}}, {{5, 8}, {5, 8}}};
  // Automatic, then each variant forced; the texel variant (CPU devices) needs the last dimension a multiple of
  // 4 and present in both operands.
  for (const char* variant : {"", "portable", "texel"}) {
    const bool texel = std::string_view(variant) == "texel";
    if (texel && !ctx().device().info().is_cpu()) continue;
    const test::ScopedKernelVariant forced("BINARY", variant);
    uint32_t seed = 1;
    for (const Case& c : cases) {
      if (texel && (c.a.back() % 4 != 0 || c.a.back() != c.b.back())) continue;
      auto a = testing::random_floats(static_cast<size_t>(numel(c.a)), seed++);
      auto b = testing::random_floats(static_cast<size_t>(numel(c.b)), seed++, 0.5f, 2.0f);  // no division by ~0
      Tensor ta = Tensor::from_floats(ctx(), a, c.a), tb = Tensor::from_floats(ctx(), b, c.b);
      for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
        CommandStream s(ctx());
        Tensor out = binary(s, op, ta, tb);
        s.finish();
        EXPECT_EQ(out.shape(), broadcast_shape(c.a, c.b));
        // Each element is one correctly rounded f32 operation on both sides (division: within 2.5 ulp).
        EXPECT_TRUE(testing::close_elementwise(out.to_floats(), reference(op, a, c.a, b, c.b), 1e-6, 0))
            << "'" << variant << "' " << shape_string(c.a) << " op " << static_cast<int>(op) << " " << shape_string(c.b);
      }
    }
  }
}

TEST_F(GpuTest, BinaryOfScaledOperandsRoundsEachProductAlone) {
  // (alpha a) op (beta b) in every variant, against the reference rounding each product on its own; and
  // axpby(1, x, dt, v) is bit for bit the Euler step x + v · dt made of a 1-element tensor and two ops.
  for (const char* variant : {"", "portable", "texel"}) {
    const bool texel = std::string_view(variant) == "texel";
    if (texel && !ctx().device().info().is_cpu()) continue;
    const test::ScopedKernelVariant forced("BINARY", variant);
    const Shape sa{3, 8}, sb{8};
    auto a = testing::random_floats(24, 11), b = testing::random_floats(8, 12, 0.5f, 2.0f);
    Tensor ta = Tensor::from_floats(ctx(), a, sa), tb = Tensor::from_floats(ctx(), b, sb);
    for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
      CommandStream s(ctx());
      Tensor out = binary(s, op, ta, tb, 0.3f, -1.7f);
      s.finish();
      EXPECT_TRUE(testing::close_elementwise(out.to_floats(), reference(op, a, sa, b, sb, 0.3f, -1.7f), 0, 0))
          << "'" << variant << "' op " << static_cast<int>(op);
    }
  }
  const float dt = -0.0371f;
  auto x = testing::random_floats(24, 13), v = testing::random_floats(24, 14);
  Tensor tx = Tensor::from_floats(ctx(), x, {3, 8}), tv = Tensor::from_floats(ctx(), v, {3, 8});
  CommandStream s(ctx());
  Tensor step = axpby(s, 1.0f, tx, dt, tv);
  Tensor old = add(s, tx, mul(s, tv, Tensor::from_floats(ctx(), std::vector<float>{dt}, {1})));
  s.finish();
  EXPECT_EQ(step.to_floats(), old.to_floats());
}

TEST_F(GpuTest, BinaryReadsStridedViews) {
  // A transposed view: [3, 4] seen as [4, 3].
  auto a = testing::random_floats(12, 7);
  Tensor t = Tensor::from_floats(ctx(), a, {3, 4});
  Tensor tt = t.view({4, 3}, {1, 4}, 0);
  Tensor zero = Tensor::from_floats(ctx(), std::vector<float>{0.0f}, {1});
  CommandStream s(ctx());
  Tensor out = add(s, tt, zero);
  s.finish();
  auto got = out.to_floats();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(got[static_cast<size_t>(i * 3 + j)], a[static_cast<size_t>(j * 4 + i)]);
}

TEST_F(GpuTest, BinaryPropagatesInfAndNaN) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> a = {1.0f, -1.0f, 0.0f, inf, nan}, b = {0.0f, 0.0f, 0.0f, 1.0f, 1.0f};
  Tensor ta = Tensor::from_floats(ctx(), a, {5}), tb = Tensor::from_floats(ctx(), b, {5});
  CommandStream s(ctx());
  Tensor out = div(s, ta, tb);
  s.finish();
  EXPECT_TRUE(testing::close_elementwise(out.to_floats(), reference(BinaryOp::Div, a, {5}, b, {5}), 0, 0));
}

TEST_F(GpuTest, BinaryRefusesBadShapesAndDtypes) {
  Tensor a = Tensor::empty(ctx(), {3, 4}, DType::F32), b = Tensor::empty(ctx(), {5}, DType::F32);
  Tensor h = Tensor::empty(ctx(), {3, 4}, DType::F16);
  CommandStream s(ctx());
  EXPECT_THROW(add(s, a, b), DeviceError);
  EXPECT_THROW(add(s, a, h), DeviceError);
}

TEST_F(GpuTest, OneBatchManyOps) {
  // A chain recorded into one submission: ((x + 1) * 2 - x) / 2 == (x + 2) / 2, no host round trip between.
  auto x = testing::random_floats(4099, 3);
  Tensor tx = Tensor::from_floats(ctx(), x, {4099});
  Tensor one = Tensor::from_floats(ctx(), std::vector<float>{1.0f}, {1});
  Tensor two = Tensor::from_floats(ctx(), std::vector<float>{2.0f}, {1});
  CommandStream s(ctx());
  Tensor r = div(s, sub(s, mul(s, add(s, tx, one), two), tx), two);
  EXPECT_EQ(s.recorded(), 4u);
  s.finish();
  std::vector<float> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = ((x[i] + 1.0f) * 2.0f - x[i]) / 2.0f;
  EXPECT_TRUE(testing::close_elementwise(r.to_floats(), want, 1e-6, 0));
}

}  // namespace
}  // namespace lattice::gpu
