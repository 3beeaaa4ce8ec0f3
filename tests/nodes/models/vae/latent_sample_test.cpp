// sample_latent on the device against its CPU reference (the same counter-based noise), over the clamped
// log-variance range [-30, 20] the encoders produce; deterministic for a seed; mismatched shapes refused.
#include "nodes/models/vae/latent_sample.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "gpu/command_stream.h"
#include "nodes/gpu_service.h"
#include "tests/support/latent_sample_reference.h"
#include "tests/support/tolerance.h"

namespace lattice {
namespace {

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
