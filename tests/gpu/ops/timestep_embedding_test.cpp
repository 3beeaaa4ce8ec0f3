#include "gpu/ops/timestep_embedding.h"

#include <cmath>

#include "gpu/command_stream.h"
#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

// diffusers' get_timestep_embedding, each step rounded to float32 as PyTorch does on the CPU.
std::vector<float> reference(const std::vector<float>& t, const TimestepEmbeddingParams& p) {
  int64_t c = p.channels, half = c / 2;
  std::vector<float> out(t.size() * static_cast<size_t>(c), 0.0f);
  for (size_t b = 0; b < t.size(); ++b)
    for (int64_t k = 0; k < half; ++k) {
      float exponent = (static_cast<float>(-std::log(10000.0)) * static_cast<float>(k)) /
                       static_cast<float>(static_cast<double>(half) - p.downscale_freq_shift);
      float arg = p.scale * (t[b] * std::exp(exponent));
      float s = std::sin(arg), co = std::cos(arg);
      out[b * static_cast<size_t>(c) + static_cast<size_t>(k)] = p.flip_sin_to_cos ? co : s;
      out[b * static_cast<size_t>(c) + static_cast<size_t>(half + k)] = p.flip_sin_to_cos ? s : co;
    }
  return out;
}

TEST_F(GpuTest, TimestepEmbeddingMatchesDiffusers) {
  struct Case {
    int64_t batch;
    TimestepEmbeddingParams p;
  };
  const Case cases[] = {{1, {256, true, 0.0f, 1.0f}},    // FLUX / LTX / Wan
                        {3, {320, false, 1.0f, 1.0f}},   // SD-style: [sin, cos], shift 1
                        {5, {7, true, 0.0f, 1.0f}},      // odd: zero column
                        {2, {1, false, 0.0f, 1.0f}},     // no frequencies at all
                        {4, {64, true, 0.0f, 1000.0f}}}; // scale folds in FLUX's t*1000
  uint32_t seed = 400;
  for (const Case& k : cases) {
    float tmax = k.p.scale > 1.0f ? 1.0f : 1000.0f;
    auto t = testing::random_floats(static_cast<size_t>(k.batch), seed++, 0.0f, tmax);
    t[0] = tmax;  // the largest argument
    if (k.batch > 1) t[1] = 0.0f;
    Tensor tt = Tensor::from_floats(ctx(), t, {k.batch});
    CommandStream s(ctx());
    Tensor e = timestep_embedding(s, tt, k.p);
    s.finish();
    ASSERT_EQ(e.shape(), (Shape{k.batch, k.p.channels}));
    // 1-ulp differences in exp move the argument by ~6e-8·|t·scale|; the rest is sin/cos rounding.
    double atol = 2e-6 + 3e-7 * tmax * k.p.scale;
    EXPECT_TRUE(testing::close_elementwise(e.to_floats(), reference(t, k.p), 0, atol))
        << "C " << k.p.channels << " batch " << k.batch;
  }
}

TEST_F(GpuTest, TimestepEmbeddingIsExactWhereTheArgumentIsSmall) {
  // t <= 1: arguments below 1, where only sin/cos rounding differs (a few ulp).
  auto t = testing::random_floats(9, 7, 0.0f, 1.0f);
  TimestepEmbeddingParams p{128, true, 0.0f, 1.0f};
  Tensor tt = Tensor::from_floats(ctx(), t, {9});
  CommandStream s(ctx());
  Tensor e = timestep_embedding(s, tt, p);
  s.finish();
  EXPECT_TRUE(testing::close_elementwise(e.to_floats(), reference(t, p), 3e-7, 1e-7));
}

TEST_F(GpuTest, TimestepEmbeddingPropagatesNonFinite) {
  std::vector<float> t = {NAN, INFINITY};
  Tensor tt = Tensor::from_floats(ctx(), t, {2});
  CommandStream s(ctx());
  Tensor e = timestep_embedding(s, tt, {4, true, 0.0f, 1.0f});
  s.finish();
  auto got = e.to_floats();
  EXPECT_TRUE(std::isnan(got[0]) && std::isnan(got[3]));  // NaN in, NaN out
  EXPECT_FALSE(std::isfinite(got[4]));                     // sin/cos of inf is NaN
}

TEST_F(GpuTest, TimestepEmbeddingRefusesBadInputs) {
  CommandStream s(ctx());
  EXPECT_THROW(timestep_embedding(s, Tensor::empty(ctx(), {2, 1}, DType::F32), {}), DeviceError);
  EXPECT_THROW(timestep_embedding(s, Tensor::empty(ctx(), {2}, DType::F16), {}), DeviceError);
  EXPECT_THROW(timestep_embedding(s, Tensor::empty(ctx(), {2}, DType::F32), {0, true, 0.0f, 1.0f}), DeviceError);
}

}  // namespace
}  // namespace lattice::gpu
