#include "gpu/ops/norm.h"

#include <cmath>
#include <string_view>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/kernel_variant.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// Plain double-precision definitions, one row (or group) at a time.
std::vector<float> reference_rows(const std::vector<float>& x, int64_t n, bool rms, double eps,
                                  const std::vector<float>& w, const std::vector<float>& b) {
  std::vector<float> y(x.size());
  for (size_t r = 0; r < x.size() / static_cast<size_t>(n); ++r) {
    const float* row = &x[r * static_cast<size_t>(n)];
    double mean = 0, var = 0;
    if (!rms) {
      for (int64_t j = 0; j < n; ++j) mean += row[j];
      mean /= double(n);
    }
    for (int64_t j = 0; j < n; ++j) var += (row[j] - mean) * (row[j] - mean);
    var /= double(n);
    for (int64_t j = 0; j < n; ++j) {
      double v = (row[j] - mean) / std::sqrt(var + eps);
      if (!w.empty()) v *= w[static_cast<size_t>(j)];
      if (!b.empty()) v += b[static_cast<size_t>(j)];
      y[r * static_cast<size_t>(n) + static_cast<size_t>(j)] = static_cast<float>(v);
    }
  }
  return y;
}

const Shape kRowShapes[] = {{1}, {5}, {3, 7}, {65, 16}, {2, 3, 129}, {3, 1000}, {2, 5, 12}};

// The variants a row-norm test runs: automatic, then each forced (gpu/variant.h). The texel variant (CPU devices)
// reads 4 values a texel, so it runs only where the row length is a multiple of 4.
const char* const kRowVariants[] = {"", "portable", "texel"};
bool skip_variant(Context& ctx, std::string_view variant, int64_t n) {
  return variant == "texel" && (!ctx.device().info().is_cpu() || n % 4 != 0);
}

TEST_F(GpuTest, LayerNormMatchesReference) {
  for (const char* variant : kRowVariants) {
    const test::ScopedKernelVariant forced("NORM", variant);
    uint32_t seed = 800;
    for (const Shape& shape : kRowShapes) {
      int64_t n = shape.back();
      if (skip_variant(ctx(), variant, n)) continue;
      // An offset mean of 3: the one-pass E[x^2] - mean^2 formula would lose digits here.
      auto x = testing::random_floats(static_cast<size_t>(numel(shape)), seed++, 1.0f, 5.0f);
      auto w = testing::random_floats(static_cast<size_t>(n), seed++), b = testing::random_floats(static_cast<size_t>(n), seed++);
      Tensor tx = Tensor::from_floats(ctx(), x, shape);
      for (bool affine : {false, true}) {
        CommandStream s(ctx());
        Tensor y = affine ? layer_norm(s, tx, 1e-6f, Tensor::from_floats(ctx(), w, {n}), Tensor::from_floats(ctx(), b, {n}))
                          : layer_norm(s, tx, 1e-6f);
        s.finish();
        auto want = affine ? reference_rows(x, n, false, 1e-6, w, b) : reference_rows(x, n, false, 1e-6, {}, {});
        EXPECT_TRUE(testing::close_elementwise(y.to_floats(), want, 1e-5, 1e-5))
            << "'" << variant << "' " << shape_string(shape) << " affine " << affine;
      }
    }
  }
}

TEST_F(GpuTest, LayerNormWeightWithoutBiasAndLargeEps) {
  auto x = testing::random_floats(4 * 9, 850), w = testing::random_floats(9, 851);
  CommandStream s(ctx());
  Tensor y = layer_norm(s, Tensor::from_floats(ctx(), x, {4, 9}), 0.5f, Tensor::from_floats(ctx(), w, {9}));
  s.finish();
  EXPECT_TRUE(testing::close_elementwise(y.to_floats(), reference_rows(x, 9, false, 0.5, w, {}), 1e-5, 1e-5));
}

TEST_F(GpuTest, RmsNormMatchesReference) {
  for (const char* variant : kRowVariants) {
    const test::ScopedKernelVariant forced("NORM", variant);
    uint32_t seed = 900;
    for (const Shape& shape : kRowShapes) {
      int64_t n = shape.back();
      if (skip_variant(ctx(), variant, n)) continue;
      auto x = testing::random_floats(static_cast<size_t>(numel(shape)), seed++, -3.0f, 3.0f);
      auto w = testing::random_floats(static_cast<size_t>(n), seed++);
      Tensor tx = Tensor::from_floats(ctx(), x, shape);
      for (float eps : {1e-6f, 1e-5f, 1e-8f}) {  // FLUX Q/K, LTX Q/K, LTX VAE
        for (bool with_weight : {false, true}) {
          CommandStream s(ctx());
          Tensor y = with_weight ? rms_norm(s, tx, eps, Tensor::from_floats(ctx(), w, {n})) : rms_norm(s, tx, eps);
          s.finish();
          auto want = reference_rows(x, n, true, eps, with_weight ? w : std::vector<float>{}, {});
          EXPECT_TRUE(testing::close_elementwise(y.to_floats(), want, 1e-5, 1e-5))
              << "'" << variant << "' " << shape_string(shape) << " eps " << eps << " weight " << with_weight;
        }
      }
    }
  }
}

TEST_F(GpuTest, RmsNormIntoWritesOnlyItsRowsOfALargerTensor) {
  // Per-head RMSNorm of a [1, 5, 2, 8] projection written into rows 3..8 of a [1, 11, 16] tensor at offset
  // 4 (FLUX writes each stream's normalised Q/K into its rows of the joint tensor); the rows around stay.
  auto x = testing::random_floats(5 * 16, 960, -3.0f, 3.0f), w = testing::random_floats(8, 961);
  const std::vector<float> fill(4 + 11 * 16, 7.0f);
  Tensor big = Tensor::from_floats(ctx(), fill, {4 + 11 * 16});
  const Tensor joint = big.view({1, 11, 16}, {11 * 16, 16, 1}, 4);
  CommandStream s(ctx());
  rms_norm_into(s, Tensor::from_floats(ctx(), x, {1, 5, 2, 8}), 1e-6f, Tensor::from_floats(ctx(), w, {8}),
                joint.view({1, 5, 2, 8}, {5 * 16, 16, 8, 1}, 4 + 3 * 16));
  s.finish();
  const auto got = big.to_floats();
  const auto want = reference_rows(x, 8, true, 1e-6, w, {});
  for (size_t i = 0; i < got.size(); ++i) {
    const bool inside = i >= 4 + 3 * 16 && i < 4 + 8 * 16;
    if (inside)
      EXPECT_NEAR(got[i], want[i - (4 + 3 * 16)], 1e-5 + 1e-5 * std::fabs(want[i - (4 + 3 * 16)])) << i;
    else
      EXPECT_EQ(got[i], 7.0f) << i;
  }
  // The output must be contiguous, of x's shape, and apart from x.
  Tensor x2 = Tensor::empty(ctx(), {2, 8}, DType::F32), wide = Tensor::empty(ctx(), {2, 16}, DType::F32);
  EXPECT_THROW(rms_norm_into(s, x2, 1e-6f, {}, wide.view({2, 8}, {16, 1}, 0)), DeviceError);
  EXPECT_THROW(rms_norm_into(s, x2, 1e-6f, {}, Tensor::empty(ctx(), {8, 2}, DType::F32)), DeviceError);
  EXPECT_THROW(rms_norm_into(s, x2, 1e-6f, {}, x2), DeviceError);
}

// torch.nn.GroupNorm in double: x [N, C, S...] viewed as [N, G, C/G * S].
std::vector<float> reference_group(const std::vector<float>& x, const Shape& shape, int64_t groups, double eps,
                                   const std::vector<float>& w, const std::vector<float>& b) {
  int64_t c = shape[1], spatial = numel(shape) / (shape[0] * c), count = c / groups * spatial;
  std::vector<float> y(x.size());
  for (int64_t g = 0; g < shape[0] * groups; ++g) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < count; ++i) mean += x[static_cast<size_t>(g * count + i)];
    mean /= double(count);
    for (int64_t i = 0; i < count; ++i) var += std::pow(x[static_cast<size_t>(g * count + i)] - mean, 2);
    var /= double(count);
    for (int64_t i = 0; i < count; ++i) {
      int64_t ch = (g % groups) * (c / groups) + i / spatial;
      double v = (x[static_cast<size_t>(g * count + i)] - mean) / std::sqrt(var + eps);
      if (!w.empty()) v = v * w[static_cast<size_t>(ch)] + b[static_cast<size_t>(ch)];
      y[static_cast<size_t>(g * count + i)] = static_cast<float>(v);
    }
  }
  return y;
}

TEST_F(GpuTest, GroupNormMatchesReference) {
  struct Case {
    Shape shape;
    int64_t groups;
  };
  // NCHW and NCDHW; group sizes below, at and far above the 256-invocation workgroup; odd spatial sizes.
  const Case cases[] = {{{1, 4, 1, 1}, 2},     {{2, 8, 3, 5}, 4},      {{1, 32, 7, 9}, 32},
                        {{2, 12, 17, 13}, 3},  {{1, 16, 3, 5, 7}, 4},  {{1, 64, 33, 31}, 32}};
  uint32_t seed = 1000;
  for (const Case& c : cases) {
    auto x = testing::random_floats(static_cast<size_t>(numel(c.shape)), seed++, -2.0f, 4.0f);
    auto w = testing::random_floats(static_cast<size_t>(c.shape[1]), seed++);
    auto b = testing::random_floats(static_cast<size_t>(c.shape[1]), seed++);
    Tensor tx = Tensor::from_floats(ctx(), x, c.shape);
    for (bool affine : {false, true}) {
      CommandStream s(ctx());
      Tensor y = affine ? group_norm(s, tx, c.groups, 1e-6f, Tensor::from_floats(ctx(), w, {c.shape[1]}),
                                     Tensor::from_floats(ctx(), b, {c.shape[1]}))
                        : group_norm(s, tx, c.groups, 1e-6f);
      s.finish();
      auto want = affine ? reference_group(x, c.shape, c.groups, 1e-6, w, b) : reference_group(x, c.shape, c.groups, 1e-6, {}, {});
      EXPECT_TRUE(testing::close_elementwise(y.to_floats(), want, 1e-5, 1e-5)) << shape_string(c.shape) << " G " << c.groups
                                                                              << " affine " << affine;
    }
  }
}

TEST_F(GpuTest, NormsRefuseBadParameters) {
  Tensor x = Tensor::empty(ctx(), {2, 6, 4}, DType::F32);
  Tensor w5 = Tensor::empty(ctx(), {5}, DType::F32), w6 = Tensor::empty(ctx(), {6}, DType::F32);
  CommandStream s(ctx());
  EXPECT_THROW(layer_norm(s, x, 1e-6f, w5), DeviceError);         // weight is not [N]
  EXPECT_THROW(rms_norm(s, x, 1e-6f, w6), DeviceError);           // N is 4
  EXPECT_THROW(group_norm(s, x, 4, 1e-6f), DeviceError);          // 6 channels, 4 groups
  EXPECT_THROW(group_norm(s, x, 3, 1e-6f, w6, {}), DeviceError);  // weight without bias
}

}  // namespace
}  // namespace lattice::gpu
