// Wan 2.1 transformer block streaming: a random Wan (4 blocks, width 256, bf16; T2V and I2V) sampled with
// batched CFG under device budgets below its weights gives exactly the fully resident result (two slots
// with a resident block, one slot with none), with LoRA patches too; the allocator's peak stays under the
// budget and the plan (weights in use + wan_activation_bytes + the streamer's blocks); the model handle's
// cache size counts the slots; a budget that cannot hold one block plus activations fails clearly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/wan/sampler.h"
#include "nodes/types/wan_handles.h"
#include "tests/support/block_streaming.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMiB = 1 << 20;
constexpr int64_t kText = 7;

WanConfig tiny_wan(bool i2v) {
  WanConfig c;
  c.num_attention_heads = 4;
  c.attention_head_dim = 64;  // width 256, FFN 1536: about 2.5 MB of weights per block
  c.in_channels = i2v ? 36 : 16;
  c.text_dim = 64;
  c.ffn_dim = 1536;
  c.num_layers = 4;
  if (i2v) {
    c.image_dim = 32;
    c.added_kv_proj_dim = c.inner_dim();
  }
  return c;
}

using test::StreamedRun;

class WanStreaming : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string base = "lattice_wan_stream_" + std::to_string(::getpid());
    for (const bool i2v : {false, true}) {
      dirs[i2v] = fs::temp_directory_path() / (base + (i2v ? "_i2v" : "_t2v"));
      fs::remove_all(dirs[i2v]);
      test::write_random_wan(dirs[i2v], tiny_wan(i2v), i2v ? 5 : 3);
    }
  }
  static void TearDownTestSuite() {
    for (const auto& d : dirs) fs::remove_all(d);
  }

  // Three Euler steps with batched CFG (three batch-2 forwards) of a [1, 16, 2, 4, 4] latent (8 tokens),
  // on a fresh device with `budget_mib` (0: the default budget), through a model handle as wan.sample uses it.
  static StreamedRun sample(bool i2v, uint64_t budget_mib, std::shared_ptr<const WeightPatches> patches = {}) {
    if (budget_mib)
      setenv("LATTICE_GPU_BUDGET_MB", std::to_string(budget_mib).c_str(), 1);
    else
      unsetenv("LATTICE_GPU_BUDGET_MB");
    GpuService gpu;
    gpu::Context& ctx = gpu.context();
    unsetenv("LATTICE_GPU_BUDGET_MB");
    auto w = std::make_shared<WeightSource>(WeightSource::open(dirs[i2v]));
    const WanConfig c = detect_wan_config(*w);
    const WanTransformerHandle handle(w, c, dirs[i2v].string(), std::move(patches));
    WanTransformer& model = handle.model(ctx);
    std::mt19937 rng(i2v ? 9 : 4);
    std::normal_distribution<float> normal;
    auto random = [&](gpu::Shape shape) {
      std::vector<float> v(static_cast<size_t>(gpu::numel(shape)));
      for (auto& x : v) x = normal(rng);
      return gpu::Tensor::from_floats(ctx, v, shape);
    };
    const gpu::Tensor noise = random({1, 16, 2, 4, 4});
    const gpu::Tensor cond = random({1, kText, c.text_dim}), negative = random({1, kText, c.text_dim});
    WanImageCondition image;
    if (i2v) image = {random({1, kWanImageTokens, c.image_dim}), random({1, c.in_channels - 16, 2, 4, 4})};
    StreamedRun r;
    r.in_use = ctx.allocator().current_device_bytes();
    r.budget = ctx.memory_budget();
    r.activations = wan_activation_bytes(c, 8, kText + (i2v ? kWanImageTokens : 0), 2);
    r.blocks = block_device_bytes(*w, wan_block_prefixes(c));
    ctx.allocator().reset_peak();
    WanSamplerOptions o;
    o.steps = 3;
    const gpu::Tensor out = wan_sample(model, ctx, noise, cond, negative, o, {}, i2v ? &image : nullptr);
    r.out = out.to_floats();
    r.peak = ctx.peak_device_bytes();
    r.stats = model.stream_stats();
    r.handle_bytes = handle.bytes();
    r.slot_bytes = model.streaming_slot_bytes();
    return r;
  }

  static inline fs::path dirs[2];
};


TEST_F(WanStreaming, StreamedSamplingEqualsResident) {
  for (const bool i2v : {false, true}) {
    SCOPED_TRACE(i2v ? "I2V" : "T2V");
    test::expect_streaming_equals_resident([&](uint64_t mib, auto patches) { return sample(i2v, mib, patches); }, 4);
  }
}

TEST_F(WanStreaming, LoraPatchesApplyToStreamedBlocks) {
  // One patch on the leading (resident) block and one on the last (streamed) block.
  const auto patches = test::random_lora({
      {"blocks.0.attn1.to_q.weight", 256, 256},
      {"blocks.3.ffn.net.0.proj.weight", 1536, 256}});
  EXPECT_NE(sample(false, 0, patches).out, sample(false, 0).out);
  test::expect_streaming_equals_resident([&](uint64_t mib, auto p) { return sample(false, mib, p); }, 4, patches);
}

TEST_F(WanStreaming, BudgetBelowOneBlockIsAClearError) {
  const StreamedRun resident = sample(false, 0);
  // Room for the activations and what is in use, not for one block.
  const uint64_t mib = (resident.in_use + resident.activations) / kMiB + 1;
  const uint64_t block = resident.largest_block();
  ASSERT_LT(mib * kMiB, resident.in_use + resident.activations + block);
  test::expect_budget_error([&] { sample(false, mib); }, "Wan transformer", mib * kMiB, block);
}

}  // namespace
}  // namespace lattice
