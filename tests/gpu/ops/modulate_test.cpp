#include "gpu/ops/modulate.h"

#include <cmath>
#include <limits>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// Value of a [B, ?, C]-broadcast modulation vector stored contiguously as `shape`.
float at(const std::vector<float>& v, const Shape& shape, int64_t b, int64_t l, int64_t c) {
  if (shape.size() == 1) return v[static_cast<size_t>(c)];
  if (shape.size() == 2) return v[static_cast<size_t>((shape[0] == 1 ? 0 : b) * shape[1] + c)];
  int64_t bb = shape[0] == 1 ? 0 : b, ll = shape[1] == 1 ? 0 : l;
  return v[static_cast<size_t>((bb * shape[1] + ll) * shape[2] + c)];
}

struct Case {
  Shape x, mod;
};

TEST_F(GpuTest, ModulateAndGatedResidualMatchReference) {
  const Case cases[] = {{{1, 1, 1}, {1, 1}},     {{2, 7, 5}, {2, 5}},       {{2, 33, 17}, {2, 1, 17}},
                        {{3, 5, 65}, {65}},      {{2, 9, 3}, {2, 9, 3}},     {{1, 300, 257}, {1, 257}},
                        {{2, 4, 6}, {1, 1, 6}}};
  uint32_t seed = 200;
  for (const Case& k : cases) {
    auto x = testing::random_floats(static_cast<size_t>(numel(k.x)), seed++, -4.0f, 4.0f);
    auto y = testing::random_floats(x.size(), seed++, -4.0f, 4.0f);
    auto m1 = testing::random_floats(static_cast<size_t>(numel(k.mod)), seed++);
    auto m2 = testing::random_floats(m1.size(), seed++);
    Tensor tx = Tensor::from_floats(ctx(), x, k.x), ty = Tensor::from_floats(ctx(), y, k.x);
    Tensor t1 = Tensor::from_floats(ctx(), m1, k.mod), t2 = Tensor::from_floats(ctx(), m2, k.mod);
    CommandStream s(ctx());
    Tensor mod = modulate(s, tx, t1, t2);
    Tensor res = gated_residual(s, tx, t1, ty);
    EXPECT_EQ(s.recorded(), 2u);  // one dispatch each
    s.finish();
    std::vector<float> want_mod(x.size()), want_res(x.size());
    for (int64_t b = 0, i = 0; b < k.x[0]; ++b)
      for (int64_t l = 0; l < k.x[1]; ++l)
        for (int64_t c = 0; c < k.x[2]; ++c, ++i) {
          auto u = static_cast<size_t>(i);
          float shift = at(m1, k.mod, b, l, c), scale = at(m2, k.mod, b, l, c);
          want_mod[u] = x[u] * (1.0f + scale) + shift;
          want_res[u] = x[u] + shift * y[u];  // m1 doubles as the gate
        }
    // PyTorch's rounding (separate multiply and add): at most an ulp or so from the reference.
    EXPECT_TRUE(testing::close_elementwise(mod.to_floats(), want_mod, 1e-6, 1e-6)) << shape_string(k.x);
    EXPECT_TRUE(testing::close_elementwise(res.to_floats(), want_res, 1e-6, 1e-6)) << shape_string(k.x);
  }
}

TEST_F(GpuTest, ModulateReadsChunksOfAProjection) {
  // The usual call: shift and scale are chunks of one [B, 6C] adaLN projection (strided views).
  const int64_t B = 2, L = 5, C = 7;
  auto x = testing::random_floats(B * L * C, 1);
  auto proj = testing::random_floats(B * 6 * C, 2);
  Tensor tx = Tensor::from_floats(ctx(), x, {B, L, C}), tp = Tensor::from_floats(ctx(), proj, {B, 6 * C});
  Tensor shift = narrow(tp, 1, 0, C), scale = narrow(tp, 1, C, C);
  CommandStream s(ctx());
  Tensor y = modulate(s, tx, shift, scale);
  s.finish();
  std::vector<float> want(x.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < L * C; ++i) {
      int64_t c = i % C;
      auto u = static_cast<size_t>(b * L * C + i);
      want[u] = x[u] * (1.0f + proj[static_cast<size_t>(b * 6 * C + C + c)]) + proj[static_cast<size_t>(b * 6 * C + c)];
    }
  EXPECT_TRUE(testing::close_elementwise(y.to_floats(), want, 1e-6, 1e-6));
}

TEST_F(GpuTest, ModulatePropagatesInfAndNaN) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {1.0f, inf, nan, 2.0f}, shift = {0.0f, 0.0f, 0.0f, inf}, scale = {-1.0f, 1.0f, 0.0f, 0.0f};
  Tensor tx = Tensor::from_floats(ctx(), x, {1, 1, 4});
  CommandStream s(ctx());
  Tensor y = modulate(s, tx, Tensor::from_floats(ctx(), shift, {4}), Tensor::from_floats(ctx(), scale, {4}));
  s.finish();
  auto got = y.to_floats();
  EXPECT_EQ(got[0], 0.0f);
  EXPECT_EQ(got[1], inf);
  EXPECT_TRUE(std::isnan(got[2]));
  EXPECT_EQ(got[3], inf);
}

TEST_F(GpuTest, ModulateRefusesBadShapes) {
  Tensor x = Tensor::empty(ctx(), {2, 3, 4}, DType::F32);
  CommandStream s(ctx());
  EXPECT_THROW(modulate(s, x, Tensor::empty(ctx(), {2, 5}, DType::F32), Tensor::empty(ctx(), {2, 4}, DType::F32)),
               DeviceError);
  EXPECT_THROW(modulate(s, x, Tensor::empty(ctx(), {3, 4}, DType::F32), Tensor::empty(ctx(), {4}, DType::F32)),
               DeviceError);
  EXPECT_THROW(gated_residual(s, x, Tensor::empty(ctx(), {4}, DType::F32), Tensor::empty(ctx(), {2, 4}, DType::F32)),
               DeviceError);
  EXPECT_THROW(modulate(s, Tensor::empty(ctx(), {3, 4}, DType::F32), Tensor::empty(ctx(), {4}, DType::F32),
                        Tensor::empty(ctx(), {4}, DType::F32)),
               DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
