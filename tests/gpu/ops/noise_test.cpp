#include "gpu/ops/noise.h"

#include <cmath>
#include <cstring>

#include "gpu/command_stream.h"
#include "gpu/ops/noise_math.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

TEST_F(GpuTest, NoiseIsBitIdenticalToCpu) {
  const struct {
    Shape shape;
    uint64_t seed, offset;
  } cases[] = {{{1}, 0, 0}, {{7}, 42, 0}, {{3, 33, 17}, 0xDEADBEEFCAFEull, 5}, {{100003}, 1, 0xFFFFFFFFull}};
  for (const auto& c : cases) {
    CommandStream s(ctx());
    Tensor t = normal_noise(s, c.shape, c.seed, c.offset);
    s.finish();
    auto got = t.to_floats();
    std::vector<float> want(got.size());
    normal_noise_cpu(c.seed, c.offset, want);
    size_t mismatches = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::memcmp(&got[i], &want[i], 4) != 0 && mismatches++ < 5)
        ADD_FAILURE() << "element " << i << ": gpu " << got[i] << " cpu " << want[i];
      ASSERT_TRUE(std::isfinite(got[i])) << i;
    }
    EXPECT_EQ(mismatches, 0u) << shape_string(c.shape);
  }
}

TEST(NoiseCpu, IsStandardNormalAndSeedDependent) {
  std::vector<float> a(1 << 18), b(1 << 18);
  normal_noise_cpu(1, 0, a);
  normal_noise_cpu(2, 0, b);
  double mean = 0, var = 0, tail = 0;
  for (float v : a) mean += v;
  mean /= a.size();
  for (float v : a) {
    var += (v - mean) * (v - mean);
    tail += std::fabs(v) > 3.0f;
  }
  var /= a.size();
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(var, 1.0, 0.01);
  EXPECT_NEAR(tail / a.size(), 0.0027, 0.0005);  // P(|z| > 3)
  EXPECT_NE(a[0], b[0]);
  // Offsets address the same stream: (seed, 1) starts at element 4 of (seed, 0).
  std::vector<float> shifted(8);
  normal_noise_cpu(1, 1, shifted);
  EXPECT_EQ(0, std::memcmp(shifted.data(), a.data() + 4, 8 * sizeof(float)));
}

TEST(NoiseCpu, PhiloxKnownAnswer) {
  // Random123's known-answer vector for philox4x32_10 with zero counter and key.
  auto x = noise_math::philox4x32_10(noise_math::uvec4(0, 0, 0, 0), 0, 0);
  EXPECT_EQ(x.x, 0x6627e8d5u);
  EXPECT_EQ(x.y, 0xe169c58du);
  EXPECT_EQ(x.z, 0xbc57ac4cu);
  EXPECT_EQ(x.w, 0x9b00dbd8u);
}

}  // namespace
}  // namespace lattice::gpu
