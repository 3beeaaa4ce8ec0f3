// LTX-Video transformer block streaming: a random LTX-Video DiT (4 blocks, width 256, bf16) sampled with
// batched CFG (and with a first-frame image, whose per-token timesteps enlarge the activations) under
// device budgets below its weights gives exactly the fully resident result (two slots with a resident
// block, one slot with none), with LoRA patches too; the allocator's peak stays under the budget and the
// plan (weights in use + ltx_activation_bytes + the streamer's blocks); the handle's cache size counts the
// slots; a budget that cannot hold one block plus activations fails clearly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/ltx/sampler.h"
#include "nodes/types/ltx_handles.h"
#include "tests/support/block_streaming.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
using test::expect_within_plan;
using test::StreamedRun;

constexpr uint64_t kMiB = 1 << 20;
constexpr int64_t kText = 7, kTokens = 2 * 3 * 4;

LtxTransformerConfig tiny_ltx() {
  LtxTransformerConfig c;
  c.in_channels = c.out_channels = 32;
  c.num_attention_heads = 4;
  c.attention_head_dim = 64;  // width 256, FFN 1536: about 2.6 MB of weights per block
  c.cross_attention_dim = 256;
  c.caption_channels = 64;
  c.ff_inner = 1536;
  c.num_layers = 4;
  return c;
}

class LtxStreaming : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("lattice_ltx_stream_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    test::write_random_ltx(dir, tiny_ltx(), 3);
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  // Three Euler steps with batched CFG (three batch-2 forwards) of a [1, 32, 2, 3, 4] latent (24 tokens;
  // with `image`, a first frame conditions it), on a fresh device with `budget_mib` (0: the default).
  static StreamedRun sample(uint64_t budget_mib, bool image, std::shared_ptr<const WeightPatches> patches = {}) {
    if (budget_mib)
      setenv("LATTICE_GPU_BUDGET_MB", std::to_string(budget_mib).c_str(), 1);
    else
      unsetenv("LATTICE_GPU_BUDGET_MB");
    GpuService gpu;
    gpu::Context& ctx = gpu.context();
    unsetenv("LATTICE_GPU_BUDGET_MB");
    auto w = std::make_shared<WeightSource>(WeightSource::open(dir));
    const LtxTransformerConfig c = detect_ltx_transformer_config(*w);
    const LtxTransformerHandle handle(w, c, dir.string(), std::move(patches));
    LtxTransformer& model = handle.model(ctx);
    std::mt19937 rng(image ? 8 : 4);
    std::normal_distribution<float> normal;
    auto random = [&](gpu::Shape shape) {
      std::vector<float> v(static_cast<size_t>(gpu::numel(shape)));
      for (auto& x : v) x = normal(rng);
      return gpu::Tensor::from_floats(ctx, v, shape);
    };
    const gpu::Tensor noise = random({1, 32, 2, 3, 4});
    const gpu::Tensor first = image ? random({1, 32, 1, 3, 4}) : gpu::Tensor{};
    std::vector<float> mask(kText, 1.0f);
    mask.back() = 0;  // one padding token
    const LtxConditioning cond{random({1, kText, 64}), mask}, negative{random({1, kText, 64}), mask};
    StreamedRun r;
    r.in_use = ctx.allocator().current_device_bytes();
    r.budget = ctx.memory_budget();
    r.activations = ltx_activation_bytes(c, kTokens, kText, 2, image);
    r.blocks = block_device_bytes(*w, ltx_block_prefixes(c));
    ctx.allocator().reset_peak();
    LtxSamplerOptions o;
    o.steps = 3;
    const gpu::Tensor out = ltx_sample(model, ctx, noise, cond, &negative, o, first);
    r.out = out.to_floats();
    r.peak = ctx.peak_device_bytes();
    r.stats = model.stream_stats();
    r.handle_bytes = handle.bytes();
    r.slot_bytes = model.streaming_slot_bytes();
    return r;
  }

  static inline fs::path dir;
};

TEST_F(LtxStreaming, StreamedSamplingEqualsResident) {
  for (const bool image : {false, true}) {
    SCOPED_TRACE(image ? "first-frame image" : "text only");
    const StreamedRun resident = sample(0, image);
    ASSERT_EQ(resident.stats.plan.blocks, 4);
    EXPECT_EQ(resident.stats.plan.resident, 4);
    EXPECT_EQ(resident.stats.plan.slots, 0);
    EXPECT_EQ(resident.stats.streamed_bytes, 0u);
    EXPECT_EQ(resident.slot_bytes, 0u);
    expect_within_plan(resident);
    ASSERT_GT(resident.total_block_bytes(), 8 * kMiB);  // so that MiB budgets can fall between its blocks

    // One to two MiB less than everything resident needs (a block is about 2.5 MiB): one block stays, the
    // others stream through two slots.
    const uint64_t need = resident.in_use + resident.activations + resident.total_block_bytes();
    const StreamedRun two = sample(need / kMiB - 1, image);
    EXPECT_EQ(two.out, resident.out);  // bit for bit
    EXPECT_EQ(two.stats.plan.slots, 2);
    EXPECT_EQ(two.stats.plan.resident, 1);
    EXPECT_EQ(two.stats.passes, 3);
    EXPECT_GE(two.stats.streamed_bytes, 3 * two.stats.plan.streamed_bytes);
    EXPECT_LE(two.stats.streamed_bytes, 3 * two.stats.plan.streamed_bytes + two.stats.plan.slot_bytes);
    expect_within_plan(two);
    EXPECT_LT(two.peak, resident.peak);
    EXPECT_EQ(two.slot_bytes, 2 * two.stats.plan.slot_bytes);
    EXPECT_GE(two.handle_bytes, two.stats.plan.resident_bytes + two.slot_bytes);

    // Room for one block beside what is in use: everything streams through one slot.
    const StreamedRun one = sample((resident.in_use + resident.activations + resident.largest_block() + kMiB - 1) / kMiB, image);
    EXPECT_EQ(one.out, resident.out);
    EXPECT_EQ(one.stats.plan.slots, 1);
    EXPECT_EQ(one.stats.plan.resident, 0);
    EXPECT_GE(one.stats.streamed_bytes, 3 * one.stats.plan.streamed_bytes);
    expect_within_plan(one);
  }
}

TEST_F(LtxStreaming, LoraPatchesApplyToStreamedBlocks) {
  // One patch on the leading (resident) block and one on the last (streamed) block.
  const auto patches = test::random_lora({
      {"transformer_blocks.0.attn1.to_q.weight", 256, 256},
      {"transformer_blocks.3.ff.net.0.proj.weight", 1536, 256}});
  const StreamedRun plain = sample(0, false);
  const StreamedRun resident = sample(0, false, patches);
  EXPECT_NE(resident.out, plain.out);
  const uint64_t need = resident.in_use + resident.activations + resident.total_block_bytes();
  const StreamedRun streamed = sample(need / kMiB - 1, false, patches);
  ASSERT_EQ(streamed.stats.plan.resident, 1);
  EXPECT_EQ(streamed.out, resident.out);
  expect_within_plan(streamed);
}

TEST_F(LtxStreaming, BudgetBelowOneBlockIsAClearError) {
  const StreamedRun resident = sample(0, false);
  // Room for the activations and what is in use, not for one block.
  const uint64_t mib = (resident.in_use + resident.activations) / kMiB + 1;
  ASSERT_LT(mib * kMiB, resident.in_use + resident.activations + resident.largest_block());
  test::expect_budget_error([&] { sample(mib, false); }, "LTX-Video transformer", mib * kMiB, resident.largest_block());
}

}  // namespace
}  // namespace lattice
