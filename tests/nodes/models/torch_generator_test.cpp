// TorchCpuGenerator against torch.randn from torch.Generator("cpu").manual_seed(seed) (PyTorch 1.13 on x86 with
// AVX2; tools/torch_randn_fixture.py): two successive draws per seed, size and dtype.
#include "nodes/models/torch_generator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "nodes/models/fixture.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

struct Case {
  TorchRandnDtype dtype;
  const char* name;
};

TEST(TorchCpuGenerator, DrawsWhatTorchRandnDrawsFromASeededCpuGenerator) {
  const Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/torch_randn.safetensors");
  int compared = 0;
  for (const uint64_t seed : {uint64_t{0}, uint64_t{42}, (uint64_t{1} << 40) + 7})
    for (const int64_t n : {1, 5, 15, 16, 17, 40, 768, 1000})
      for (const Case c : {Case{TorchRandnDtype::Float32, "float32"}, Case{TorchRandnDtype::BFloat16, "bfloat16"},
                           Case{TorchRandnDtype::Float16, "float16"}}) {
        TorchCpuGenerator g(seed);
        for (const char* draw : {"first", "second"}) {
          const std::string name = "output." + std::to_string(seed) + "." + std::to_string(n) + "." + c.name + "." + draw;
          const std::vector<float> ref = fx.f32(name), got = g.randn(n, c.dtype);
          ASSERT_EQ(got.size(), ref.size()) << name;
          // Bit-identical but for float32 draws of 16 or more, which x86 PyTorch computes with polynomial
          // approximations of log, sin and cos (the header says why).
          const bool exact = c.dtype != TorchRandnDtype::Float32 || n < 16;
          for (size_t i = 0; i < ref.size(); ++i) {
            if (exact)
              ASSERT_EQ(got[i], ref[i]) << name << " [" << i << "]";
            else
              ASSERT_NEAR(got[i], ref[i], 2e-6f * std::max(1.0f, std::fabs(ref[i]))) << name << " [" << i << "]";
          }
          ++compared;
        }
      }
  EXPECT_EQ(compared, 3 * 8 * 3 * 2);
}

TEST(TorchCpuGenerator, TheSameSeedDrawsTheSameAndOtherSeedsOthers) {
  TorchCpuGenerator a(7), b(7), c(8);
  const std::vector<float> x = a.randn(64);
  EXPECT_EQ(x, b.randn(64));
  EXPECT_NE(x, c.randn(64));
  EXPECT_NE(x, a.randn(64));  // the stream continues
}

TEST(NoiseGenerator, NamesParseAndUnknownOnesAreRefused) {
  for (const std::string_view n : noise_generator_names()) EXPECT_NO_THROW(parse_noise_generator(n)) << n;
  EXPECT_EQ(parse_noise_generator("torch_bf16"), NoiseGenerator::TorchBFloat16);
  try {
    parse_noise_generator("cuda");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("'cuda' is not one of lattice, torch, torch_bf16, torch_f16"));
  }
}

}  // namespace
}  // namespace lattice
