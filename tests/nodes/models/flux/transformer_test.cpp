// FLUX transformer block streaming: a random FLUX (3 double + 4 single blocks, width 192, bf16) sampled under device
// budgets below its weights gives exactly the fully resident result, with LoRA patches too, and the
// allocator's peak stays under both the budget and the plan (weights in use + flux_activation_bytes + the
// streamer's blocks); a budget that cannot hold one block plus activations fails with a clear message.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/flux/config.h"
#include "nodes/models/flux/sampler.h"
#include "nodes/models/flux/transformer.h"
#include "tests/support/block_streaming.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMiB = 1 << 20;

using test::StreamedRun;

class FluxStreaming : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("lattice_flux_stream_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    test::write_random_flux(dir, 3, 4, 3);  // width 192: 2.7 MB per double block, 1.1 MB per single
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  // Three sampling steps (three passes over the blocks) at 8x6 latents (12 image tokens, 7 text tokens),
  // on a fresh device with `budget_mib` (0: the default budget).
  static StreamedRun sample(uint64_t budget_mib, std::shared_ptr<const WeightPatches> patches = {}) {
    if (budget_mib)
      setenv("LATTICE_GPU_BUDGET_MB", std::to_string(budget_mib).c_str(), 1);
    else
      unsetenv("LATTICE_GPU_BUDGET_MB");
    GpuService gpu;
    gpu::Context& ctx = gpu.context();
    unsetenv("LATTICE_GPU_BUDGET_MB");
    WeightSource w = WeightSource::open(dir);
    const FluxConfig c = detect_flux_config(w);
    DeviceWeights weights(w, ctx, std::move(patches));
    FluxTransformer model(c, weights);
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    auto random = [&](gpu::Shape shape) {
      std::vector<float> v(static_cast<size_t>(gpu::numel(shape)));
      for (auto& x : v) x = normal(rng);
      return gpu::Tensor::from_floats(ctx, v, shape);
    };
    const gpu::Tensor latents = random({1, 12, 64});
    const FluxConditioning cond{random({1, 7, 64}), random({1, 32})};
    StreamedRun r;
    r.in_use = ctx.allocator().current_device_bytes();
    r.budget = ctx.memory_budget();
    r.activations = flux_activation_bytes(c, 1, 12, 7);
    r.blocks = block_device_bytes(w, flux_block_prefixes(c));
    ctx.allocator().reset_peak();
    FluxSamplerOptions o;
    o.steps = 3;
    const gpu::Tensor out = flux_sample(model, ctx, latents, 8, 6, cond, nullptr, o);
    r.out = out.to_floats();
    r.peak = ctx.peak_device_bytes();
    r.stats = model.stream_stats();
    return r;
  }

  static inline fs::path dir;
};

using test::expect_within_plan;

TEST_F(FluxStreaming, StreamedSamplingEqualsResident) {
  const StreamedRun resident = sample(0);
  ASSERT_EQ(resident.stats.plan.blocks, 7);
  EXPECT_EQ(resident.stats.plan.resident, 7);
  EXPECT_EQ(resident.stats.plan.slots, 0);
  EXPECT_EQ(resident.stats.streamed_bytes, 0u);
  expect_within_plan(resident);
  const uint64_t weights = resident.total_block_bytes();
  ASSERT_GT(weights, 8 * kMiB);  // so that MiB budgets can fall between its blocks

  // Two MiB less than everything resident needs: some blocks stream, through two slots.
  const uint64_t need = resident.in_use + resident.activations + weights;
  const StreamedRun two = sample(need / kMiB - 2);
  EXPECT_EQ(two.out, resident.out);  // bit for bit
  EXPECT_EQ(two.stats.plan.slots, 2);
  EXPECT_LT(two.stats.plan.resident, 7);
  EXPECT_GT(two.stats.plan.resident, 0);
  EXPECT_EQ(two.stats.passes, 3);
  // Every pass uploads each streamed block once (the first one also before the first pass).
  EXPECT_GE(two.stats.streamed_bytes, 3 * two.stats.plan.streamed_bytes);
  EXPECT_LE(two.stats.streamed_bytes, 3 * two.stats.plan.streamed_bytes + two.stats.plan.slot_bytes);
  expect_within_plan(two);
  EXPECT_LT(two.peak, resident.peak);

  // Room for one block beside what is in use: everything streams through one slot.
  const uint64_t largest = resident.largest_block();
  const StreamedRun one = sample((resident.in_use + resident.activations + largest + kMiB - 1) / kMiB);
  EXPECT_EQ(one.out, resident.out);
  EXPECT_EQ(one.stats.plan.slots, 1);
  EXPECT_GE(one.stats.streamed_bytes, 3 * one.stats.plan.streamed_bytes);
  expect_within_plan(one);
}

TEST_F(FluxStreaming, LoraPatchesApplyToStreamedBlocks) {
  // One patch on a leading (resident) block and one on the last (streamed) block.
  const auto patches = test::random_lora({
      {"transformer_blocks.0.attn.to_q.weight", 192, 192},
      {"single_transformer_blocks.3.proj_mlp.weight", 768, 192}});

  const StreamedRun plain = sample(0);
  const StreamedRun resident = sample(0, patches);
  EXPECT_NE(resident.out, plain.out);
  const uint64_t need = resident.in_use + resident.activations + resident.total_block_bytes();
  const StreamedRun streamed = sample(need / kMiB - 2, patches);
  ASSERT_LT(streamed.stats.plan.resident, 7);
  EXPECT_EQ(streamed.out, resident.out);
  expect_within_plan(streamed);
}

TEST_F(FluxStreaming, BudgetBelowOneBlockIsAClearError) {
  const StreamedRun resident = sample(0);
  // Room for the activations and what is in use, not for one block.
  const uint64_t mib = (resident.in_use + resident.activations) / kMiB + 1;
  const uint64_t largest = resident.largest_block();
  ASSERT_LT(mib * kMiB, resident.in_use + resident.activations + largest);
  test::expect_budget_error([&] { sample(mib); }, "FLUX transformer", mib * kMiB, largest);
}

}  // namespace
}  // namespace lattice
