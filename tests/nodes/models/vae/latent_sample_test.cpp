// split_moments against a plain C++ split and clamp, for per-channel and shared (LTX) log-variances; sample_latent
// on the device against its CPU reference (the same counter-based noise), over the clamped log-variance range
// [-30, 20] the encoders produce; deterministic for a seed; mismatched shapes refused.
#include "nodes/models/vae/latent_sample.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "gpu/command_stream.h"
#include "nodes/gpu_service.h"
#include "tests/support/latent_sample_reference.h"
#include "tests/support/tolerance.h"

namespace lattice {
namespace {

// Moments [B, C, n] -> {mean [B, L, n], clamped logvar [B, L, n]}; the logvar of channel c is moments channel
// L + c, or L for every c when C = L + 1.
std::pair<std::vector<float>, std::vector<float>> split_reference(const std::vector<float>& m, int64_t B, int64_t C, int64_t L, int64_t n) {
  std::vector<float> mean, logvar;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < L; ++c)
      for (int64_t i = 0; i < n; ++i) {
        mean.push_back(m[static_cast<size_t>((b * C + c) * n + i)]);
        const float v = m[static_cast<size_t>((b * C + (C == 2 * L ? L + c : L)) * n + i)];
        logvar.push_back(std::isnan(v) ? v : std::min(20.0f, std::max(-30.0f, v)));
      }
  return {mean, logvar};
}

TEST(LatentSample, SplitMomentsIntoMeanAndClampedLogvar) {
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  const int64_t B = 2, L = 3, n = 5 * 7;  // [B, C, 5, 7]
  for (const int64_t C : {2 * L, L + 1}) {
    std::vector<float> m(static_cast<size_t>(B * C * n));
    for (size_t i = 0; i < m.size(); ++i) m[i] = 60.0f * std::sin(0.71f * static_cast<float>(i));  // past both bounds
    m[static_cast<size_t>(L * n)] = std::numeric_limits<float>::quiet_NaN();  // a logvar element: stays NaN
    m[static_cast<size_t>(L * n + 1)] = -std::numeric_limits<float>::infinity();
    gpu::CommandStream s(ctx);
    const auto [mean, logvar] = split_moments(s, gpu::Tensor::from_floats(ctx, m, {B, C, 5, 7}), L);
    s.finish();
    EXPECT_EQ(mean.shape(), (gpu::Shape{B, L, 5, 7}));
    EXPECT_EQ(logvar.shape(), (gpu::Shape{B, L, 5, 7}));
    const auto [want_mean, want_logvar] = split_reference(m, B, C, L, n);
    EXPECT_EQ(mean.to_floats(), want_mean) << C << " channels";
    const std::vector<float> got = logvar.to_floats();
    ASSERT_EQ(got.size(), want_logvar.size());
    for (size_t i = 0; i < got.size(); ++i)
      if (std::isnan(want_logvar[i])) EXPECT_TRUE(std::isnan(got[i])) << C << " channels, " << i;
      else EXPECT_EQ(got[i], want_logvar[i]) << C << " channels, " << i;
  }
  gpu::CommandStream s(ctx);
  EXPECT_THROW(split_moments(s, gpu::Tensor::from_floats(ctx, std::vector<float>(5 * n), {1, 5, 5, 7}), L), Error);
}

TEST(LatentSample, IsMeanPlusStdTimesTheSeedsNoise) {
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  const gpu::Shape shape{1, 16, 3, 5, 7};
  const size_t n = static_cast<size_t>(gpu::numel(shape));
  // Means in [-3, 3] and log-variances spread over [-30, 20] (a low-discrepancy sequence), both ends included.
  std::vector<float> mean(n), logvar(n);
  for (size_t i = 0; i < n; ++i) {
    mean[i] = 3.0f * std::sin(0.37f * static_cast<float>(i));
    logvar[i] = -30.0f + 50.0f * std::fmod(0.6180339887f * static_cast<float>(i), 1.0f);
  }
  logvar[0] = -30.0f, logvar[1] = 20.0f, logvar[2] = 0.0f;
  const gpu::Tensor m = gpu::Tensor::from_floats(ctx, mean, shape), lv = gpu::Tensor::from_floats(ctx, logvar, shape);
  gpu::CommandStream s(ctx);
  const gpu::Tensor a = sample_latent(s, m, lv, 7), b = sample_latent(s, m, lv, 7), other = sample_latent(s, m, lv, 8);
  s.finish();
  EXPECT_EQ(a.shape(), shape);
  const std::vector<float> got = a.to_floats();
  // Within the project tolerance of the reference, and at every element within 1e-5 of its own magnitude
  // (the latent spans e^10 down to e^-15 times the noise, so the tensor-wide bound alone would hide the small ones).
  const std::vector<float> want = test::sample_latent_reference(mean, logvar, 7);
  EXPECT_TRUE(test::within_tolerance(got, want));
  for (size_t i = 0; i < n; ++i) ASSERT_NEAR(got[i], want[i], 1e-5 * std::max(1.0f, std::fabs(want[i]))) << i;
  EXPECT_EQ(got, b.to_floats());
  EXPECT_NE(got, other.to_floats());
}

TEST(LatentSample, RefusesMomentsOfDifferentShapes) {
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  const gpu::Tensor m = gpu::Tensor::from_floats(ctx, std::vector<float>(6, 0.0f), {1, 2, 3});
  const gpu::Tensor lv = gpu::Tensor::from_floats(ctx, std::vector<float>(6, 0.0f), {1, 3, 2});
  gpu::CommandStream s(ctx);
  try {
    sample_latent(s, m, lv, 1);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("differ in shape"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lattice
