// latent.noise: Lattice's counter-based noise by default; with `generator` torch*, torch.randn from a seeded
// CPU generator as FluxPipeline draws its starting latents (tests/golden/torch_randn.safetensors).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/document.h"
#include "core/engine.h"
#include "core/graph.h"
#include "gpu/ops/noise.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class LatentNoise : public ::testing::Test {
 protected:
  void SetUp() override {
    env.set(std::make_shared<GpuService>());
    opts.env = &env;
  }
  // A 48x64 image's FLUX latent: [1, 16, 8, 6], 768 values.
  std::vector<float> noise(const std::string& generator, uint64_t seed) {
    const Graph g = parse_graph(R"({"lattice": 1, "nodes": [{"id": "n", "type": "latent.noise", "params":
        {"width": 48, "height": 64, "seed": )" + std::to_string(seed) +
                                (generator.empty() ? "" : R"(, "generator": ")" + generator + "\"") + "}}]}");
    MemoryCache mem;
    Engine e(&mem);
    auto v = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "n", "latent", opts));
    EXPECT_TRUE(v);
    EXPECT_EQ(v->shape(), (std::vector<int64_t>{1, 16, 8, 6}));
    return v->host().to_f32();
  }
  Environment env;
  RenderOptions opts;
};

TEST_F(LatentNoise, TorchGeneratorsDrawWhatTorchRandnDrawsForTheSeed) {
  const Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/torch_randn.safetensors");
  EXPECT_EQ(noise("torch_bf16", 42), fx.f32("output.42.768.bfloat16.first"));
  EXPECT_EQ(noise("torch_f16", 0), fx.f32("output.0.768.float16.first"));
  const std::vector<float> f32 = noise("torch", 42), ref = fx.f32("output.42.768.float32.first");
  ASSERT_EQ(f32.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(f32[i], ref[i], 2e-6f * std::max(1.0f, std::fabs(ref[i]))) << i;
}

TEST_F(LatentNoise, TheDefaultIsLatticesNoiseAsBeforeTheGeneratorParameter) {
  std::vector<float> expected(768);
  gpu::normal_noise_cpu(42, 0, expected);
  EXPECT_EQ(noise("", 42), expected);
  EXPECT_EQ(noise("lattice", 42), expected);
}

}  // namespace
}  // namespace lattice
