#include "gpu/ops/modulate.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string_view>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "gpu/ops/copy.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/kernel_variant.h"

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

// Every variant (gpu/variant.h): texel on CPU devices and vec4 where C and the offsets and strides are multiples
// of 4 (so only those cases run forced), portable everywhere.
TEST_F(GpuTest, ModulateAndGatedResidualMatchReference) {
  const Case cases[] = {{{1, 1, 1}, {1, 1}},     {{2, 7, 5}, {2, 5}},       {{2, 33, 17}, {2, 1, 17}},
                        {{3, 5, 65}, {65}},      {{2, 9, 3}, {2, 9, 3}},     {{1, 300, 257}, {1, 257}},
                        {{2, 4, 6}, {1, 1, 6}},  {{1, 1, 4}, {1, 4}},        {{2, 9, 12}, {2, 9, 12}},
                        {{2, 33, 16}, {2, 1, 16}}, {{1, 300, 256}, {256}}};
  for (const char* variant : {"portable", "vec4", "texel"}) {
    if (std::string_view(variant) == "texel" && !ctx().device().info().is_cpu()) continue;
    const test::ScopedKernelVariant forced("MODULATE", variant);
    uint32_t seed = 200;
    for (const Case& k : cases) {
      if (std::string_view(variant) != "portable" && k.x[2] % 4 != 0) continue;
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
      EXPECT_TRUE(testing::close_elementwise(mod.to_floats(), want_mod, 1e-6, 1e-6)) << variant << " " << shape_string(k.x);
      EXPECT_TRUE(testing::close_elementwise(res.to_floats(), want_res, 1e-6, 1e-6)) << variant << " " << shape_string(k.x);
    }
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

// LayerNorm (mean and variance) or RMSNorm of each row in double, as the float the norm op returns, then
// modulate's float arithmetic: the two ops the fused one replaces.
std::vector<float> reference_norm_modulate(const std::vector<float>& x, const Shape& shape, RowNorm norm, double eps,
                                           const std::vector<float>& shift, const std::vector<float>& scale,
                                           const Shape& mod) {
  const int64_t L = shape[1], C = shape[2];
  std::vector<float> y(x.size());
  for (int64_t r = 0; r < shape[0] * L; ++r) {
    const float* row = &x[static_cast<size_t>(r * C)];
    double mean = 0, var = 0;
    if (norm == RowNorm::Layer) {
      for (int64_t c = 0; c < C; ++c) mean += row[c];
      mean /= double(C);
    }
    for (int64_t c = 0; c < C; ++c) var += (row[c] - mean) * (row[c] - mean);
    var /= double(C);
    for (int64_t c = 0; c < C; ++c) {
      const auto n = static_cast<float>((row[c] - mean) / std::sqrt(var + eps));
      y[static_cast<size_t>(r * C + c)] = n * (1.0f + at(scale, mod, r / L, r % L, c)) + at(shift, mod, r / L, r % L, c);
    }
  }
  return y;
}

// Odd and 4-aligned widths; [B, C], [C], [B, 1, C] and per-token modulation; an offset mean of 3 (which the
// one-pass variance formula would lose digits on). Automatic choice (texel on CPU devices where C % 4 == 0)
// and portable forced.
TEST_F(GpuTest, NormModulateMatchesNormThenModulate) {
  const Case cases[] = {{{1, 1, 1}, {1, 1}},   {{2, 7, 5}, {2, 5}},     {{2, 33, 16}, {2, 1, 16}}, {{3, 5, 65}, {65}},
                        {{2, 9, 12}, {2, 9, 12}}, {{1, 300, 256}, {1, 256}}, {{2, 3, 1000}, {2, 1000}}};
  for (const char* variant : {"", "portable"}) {
    const test::ScopedKernelVariant forced("NORM_MODULATE", variant);
    uint32_t seed = 300;
    for (const Case& k : cases)
      for (RowNorm norm : {RowNorm::Layer, RowNorm::Rms}) {
        auto x = testing::random_floats(static_cast<size_t>(numel(k.x)), seed++, 1.0f, 5.0f);
        auto shift = testing::random_floats(static_cast<size_t>(numel(k.mod)), seed++);
        auto scale = testing::random_floats(shift.size(), seed++);
        const float eps = norm == RowNorm::Layer ? 1e-6f : 1e-5f;
        CommandStream s(ctx());
        Tensor y = norm_modulate(s, Tensor::from_floats(ctx(), x, k.x), norm, eps, Tensor::from_floats(ctx(), shift, k.mod),
                                 Tensor::from_floats(ctx(), scale, k.mod));
        EXPECT_EQ(s.recorded(), 1u);
        s.finish();
        EXPECT_TRUE(testing::close_elementwise(y.to_floats(), reference_norm_modulate(x, k.x, norm, eps, shift, scale, k.mod),
                                               2e-5, 2e-5))
            << "'" << variant << "' " << shape_string(k.x) << " norm " << static_cast<int>(norm);
      }
  }
}

TEST_F(GpuTest, NormModulateTexelReadsChunksOfAProjectionAtAnOffset) {
  // As the DiT blocks call it: x a range of rows of a larger tensor, shift and scale chunks of [B, 6C].
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "the texel variant is for CPU devices";
  const int64_t B = 2, L = 7, C = 24;
  auto big = testing::random_floats(static_cast<size_t>(4 + B * L * C), 41, -2.0f, 2.0f);
  auto proj = testing::random_floats(static_cast<size_t>(B * 6 * C), 42);
  const Tensor tbig = Tensor::from_floats(ctx(), big, {4 + B * L * C});
  const Tensor x = tbig.view({B, L, C}, {L * C, C, 1}, 4), tp = Tensor::from_floats(ctx(), proj, {B, 6 * C});
  const Tensor shift = narrow(tp, 1, 3 * C, C), scale = narrow(tp, 1, 4 * C, C);
  std::vector<float> xs(big.begin() + 4, big.end()), sh(static_cast<size_t>(B * C)), sc(sh.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      sh[static_cast<size_t>(b * C + c)] = proj[static_cast<size_t>(b * 6 * C + 3 * C + c)];
      sc[static_cast<size_t>(b * C + c)] = proj[static_cast<size_t>(b * 6 * C + 4 * C + c)];
    }
  const test::ScopedKernelVariant forced("NORM_MODULATE", "texel");
  CommandStream s(ctx());
  Tensor y = norm_modulate(s, x, RowNorm::Layer, 1e-6f, shift, scale);
  s.finish();
  EXPECT_TRUE(testing::close_elementwise(y.to_floats(), reference_norm_modulate(xs, {B, L, C}, RowNorm::Layer, 1e-6, sh, sc, {B, C}),
                                         2e-5, 2e-5));
}

TEST_F(GpuTest, ModulateFallsBackWhereATexelBufferIsTooSmall) {
  // A device whose texel buffers hold 16 texels (64 floats): the 4-aligned [1, 9, 12] input does not fit one,
  // so the automatic choice must take another variant, with the same result.
  if (!ctx().device().info().is_cpu()) GTEST_SKIP() << "the texel variant is for CPU devices";
  setenv("LATTICE_GPU_MAX_TEXEL_ELEMENTS", "16", 1);
  const auto small = std::make_unique<Context>();
  unsetenv("LATTICE_GPU_MAX_TEXEL_ELEMENTS");
  const Shape shape{1, 9, 12};
  auto x = testing::random_floats(9 * 12, 51), shift = testing::random_floats(12, 52), scale = testing::random_floats(12, 53);
  CommandStream s(*small);
  const Tensor tx = Tensor::from_floats(*small, x, shape), tsh = Tensor::from_floats(*small, shift, {12}),
               tsc = Tensor::from_floats(*small, scale, {12});
  Tensor m = modulate(s, tx, tsh, tsc);
  Tensor n = norm_modulate(s, tx, RowNorm::Rms, 1e-6f, tsh, tsc);
  s.finish();
  std::vector<float> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * (1.0f + scale[i % 12]) + shift[i % 12];
  EXPECT_TRUE(testing::close_elementwise(m.to_floats(), want, 1e-6, 1e-6));
  EXPECT_TRUE(testing::close_elementwise(n.to_floats(), reference_norm_modulate(x, shape, RowNorm::Rms, 1e-6, shift, scale, {12}),
                                         2e-5, 2e-5));
  const test::ScopedKernelVariant forced("MODULATE", "texel"), forced_norm("NORM_MODULATE", "texel");
  EXPECT_THROW(modulate(s, tx, tsh, tsc), DeviceError);
  EXPECT_THROW(norm_modulate(s, tx, RowNorm::Layer, 1e-6f, tsh, tsc), DeviceError);
}

TEST_F(GpuTest, NormModulateRefusesBadInputs) {
  CommandStream s(ctx());
  const Tensor v4 = Tensor::empty(ctx(), {4}, DType::F32);
  Tensor strided = Tensor::empty(ctx(), {2, 3, 8}, DType::F32).view({2, 3, 4}, {24, 8, 1}, 0);
  EXPECT_THROW(norm_modulate(s, strided, RowNorm::Layer, 1e-6f, v4, v4), DeviceError);
  EXPECT_THROW(norm_modulate(s, Tensor::empty(ctx(), {3, 4}, DType::F32), RowNorm::Layer, 1e-6f, v4, v4), DeviceError);
  EXPECT_THROW(norm_modulate(s, Tensor::empty(ctx(), {2, 3, 4}, DType::F32), RowNorm::Rms, 1e-6f,
                             Tensor::empty(ctx(), {3, 4}, DType::F32), v4),
               DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
