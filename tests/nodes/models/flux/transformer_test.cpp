// FLUX transformer block streaming: a random FLUX (3 double + 4 single blocks, width 192, bf16) sampled under device
// budgets below its weights gives exactly the fully resident result, with LoRA patches too, and the
// allocator's peak stays under both the budget and the plan (weights in use + flux_activation_bytes + the
// streamer's blocks); a budget that cannot hold one block plus activations fails with a clear message.
// Long sequences: with device buffers too small for the joint sequence, the stream runs in spans of rows
// and gives the result of the run with whole tensors.
#include <gtest/gtest.h>
#include "tests/support/tolerance.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "gpu/ops/rope.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/flux/config.h"
#include "nodes/models/flux/sampler.h"
#include "nodes/models/flux/transformer.h"
#include "tests/support/block_streaming.h"
#include "tests/support/gpu_limits.h"
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
  static void expect_patched_streaming(const std::shared_ptr<const WeightPatches>& patches);

  // Three sampling steps (three passes over the blocks) at 8x6 latents (12 image tokens, 7 text tokens),
  // on a fresh device with `budget_mib` (0: the default budget).
  // buffer_bytes: the device's per-buffer limit (0: its own); cache: the step cache's threshold (0: off).
  static StreamedRun sample(uint64_t budget_mib, std::shared_ptr<const WeightPatches> patches = {}, uint64_t buffer_bytes = 0,
                            float cache = 0) {
    if (budget_mib)
      setenv("LATTICE_GPU_BUDGET_MB", std::to_string(budget_mib).c_str(), 1);
    else
      unsetenv("LATTICE_GPU_BUDGET_MB");
    const std::shared_ptr<GpuService> gpu = test::gpu_with_buffer_limit(buffer_bytes);
    gpu::Context& ctx = gpu->context();
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
    r.blocks = block_device_bytes(w, flux_block_prefixes(c));
    ctx.allocator().reset_peak();
    FluxSamplerOptions o;
    o.steps = 3;
    o.cache_threshold = cache;
    std::vector<FluxStepRecord> records;
    const gpu::Tensor out = flux_sample(model, ctx, latents, 8, 6, cond, nullptr, o, {}, &records);
    r.out = out.to_floats();
    r.peak = ctx.peak_device_bytes();
    r.stats = model.stream_stats();
    EXPECT_EQ(model.activation_bytes(), r.stats.activation_bytes);
    r.activations = flux_activation_bytes(c, 1, 12, 7);
    r.overlap_bytes = flux_activation_bytes(c, 1, 12, 7, 2);
    for (const FluxStepRecord& step : records) r.cached += step.cached ? 1 : 0;
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
  // Every block resident and room to spare: the device runs a block while the next is recorded.
  EXPECT_EQ(resident.stats.blocks_in_flight, 2);
  EXPECT_EQ(resident.stats.activation_bytes, resident.overlap_bytes);
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
  EXPECT_EQ(two.stats.blocks_in_flight, 1);  // streaming waits for every block
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

// Rank-2 patches on a leading (resident) block and on the last (streamed) block.
std::shared_ptr<WeightPatches> resident_and_streamed_lora() {
  return test::random_lora({{"transformer_blocks.0.attn.to_q.weight", 192, 192}, {"single_transformer_blocks.3.proj_mlp.weight", 768, 192}});
}

// `patches` change the output, and streamed blocks merge them as resident ones do (bit for bit).
void FluxStreaming::expect_patched_streaming(const std::shared_ptr<const WeightPatches>& patches) {
  const StreamedRun plain = sample(0);
  const StreamedRun resident = sample(0, patches);
  EXPECT_NE(resident.out, plain.out);
  const uint64_t need = resident.in_use + resident.activations + resident.total_block_bytes();
  const StreamedRun streamed = sample(need / kMiB - 2, patches);
  ASSERT_LT(streamed.stats.plan.resident, 7);
  EXPECT_EQ(streamed.out, resident.out);
  expect_within_plan(streamed);
}

TEST_F(FluxStreaming, LoraPatchesApplyToStreamedBlocks) { expect_patched_streaming(resident_and_streamed_lora()); }

TEST_F(FluxStreaming, DoraPatchesApplyToStreamedBlocksAsToResidentOnes) {
  // DoRA with a per-row magnitude on the resident block, a per-input-channel one (norms over every row, read
  // before the merge) on the streamed one.
  auto patches = resident_and_streamed_lora();
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> pos(0.5f, 1.5f);
  for (auto& p : *patches) {
    const bool per_row = p.target.starts_with("transformer_blocks.0.");
    const int64_t n = per_row ? p.delta_rows() : p.delta_cols();
    std::vector<float> m(static_cast<size_t>(n));
    for (float& x : m) x = pos(rng);
    p.magnitude = HostTensor::from_f32(per_row ? std::vector<int64_t>{n, 1} : std::vector<int64_t>{1, n}, m);
    p.strength = 0.8f;
    p.scale = 1.0f;
  }
  expect_patched_streaming(patches);
}

TEST_F(FluxStreaming, BudgetBelowOneBlockIsAClearError) {
  const StreamedRun resident = sample(0);
  // Room for the activations and what is in use, not for one block.
  const uint64_t mib = (resident.in_use + resident.activations) / kMiB + 1;
  const uint64_t largest = resident.largest_block();
  ASSERT_LT(mib * kMiB, resident.in_use + resident.activations + largest);
  test::expect_budget_error([&] { sample(mib); }, "FLUX transformer", mib * kMiB, largest);
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_TRUE(test::within_tolerance(got, want));
}

TEST_F(FluxStreaming, JointSequenceBeyondOneBufferRunsInSpans) {
  // 7 text + 12 image tokens of width 192 take 14,592 bytes per stream tensor; 6 KiB buffers hold 8 rows,
  // so the joint sequence runs as spans [0, 8) (7 text rows and 1 image row), [8, 16), [16, 19), attention
  // in groups of one head (one head's keys: 4,864 bytes), the MLPs in chunks of 2 rows (1 for [attn, mlp]).
  constexpr uint64_t kLimit = 6144;
  static_assert(19 * 192 * 4 > kLimit && 19 * 64 * 4 <= kLimit);
  const StreamedRun whole = sample(0), spans = sample(0, {}, kLimit);
  expect_close(spans.out, whole.out);
  // Streamed blocks under both limits.
  const uint64_t need = whole.in_use + whole.activations + whole.total_block_bytes();
  const StreamedRun streamed = sample(need / kMiB - 2, {}, kLimit);
  ASSERT_LT(streamed.stats.plan.resident, 7);
  expect_close(streamed.out, whole.out);
  // The step cache keeps its residual per span of image rows: a threshold that every change stays under
  // skips the blocks after the first step, split or not, with the same result.
  const StreamedRun cached_whole = sample(0, {}, 0, 1e9f), cached_spans = sample(0, {}, kLimit, 1e9f);
  EXPECT_EQ(cached_whole.cached, 2);
  EXPECT_EQ(cached_spans.cached, 2);
  expect_close(cached_spans.out, cached_whole.out);
}

// The diffusers fixture's weights (width 32) with 40 text tokens (the fixture's 7 and 33 random ones) and its
// 12 image tokens: the 52 × 32 stream tensors (6,656 bytes) exceed 6 KiB buffers while the 64-channel latents
// (3,072 bytes) fit, so the forward runs in spans [0, 48) (40 text rows, 8 image rows) and [48, 52); the
// output matches the one-span run, which the fixture itself checks (Fixture.FluxTransformer).
std::vector<float> fixture_forward_with_long_text(uint64_t buffer_bytes) {
  const Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_transformer.safetensors");
  const FluxConfig c = flux_config_from_json(fx.config());
  const std::shared_ptr<GpuService> gpu = test::gpu_with_buffer_limit(buffer_bytes);
  gpu::Context& ctx = gpu->context();
  WeightSource src = fixture_weights(fx);
  DeviceWeights weights(src, ctx);
  FluxTransformer model(c, weights);
  constexpr int64_t kText = 40;
  std::vector<float> text = fx.f32("input.encoder_hidden_states");
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  while (static_cast<int64_t>(text.size()) < kText * c.joint_attention_dim) text.push_back(normal(rng));
  std::vector<float> ids(static_cast<size_t>(kText * 3), 0.0f);
  const std::vector<float> img_ids = fx.f32("input.img_ids");
  ids.insert(ids.end(), img_ids.begin(), img_ids.end());
  const int64_t axes[3] = {c.axes_dims_rope[0], c.axes_dims_rope[1], c.axes_dims_rope[2]};
  const gpu::RopeTables rope = gpu::flux_rope_tables(ids, axes);
  const int64_t tokens = kText + static_cast<int64_t>(img_ids.size() / 3);
  gpu::CommandStream s(ctx);
  const gpu::Tensor out = model.forward(
      s, upload_fixture_tensor(ctx, fx, "input.hidden_states"),
      gpu::Tensor::from_floats(ctx, text, {1, kText, c.joint_attention_dim}),
      upload_fixture_tensor(ctx, fx, "input.pooled_projections"), fx.f32("input.timestep"), fx.f32("input.guidance"),
      gpu::Tensor::from_floats(ctx, rope.cos, {tokens, rope.width}), gpu::Tensor::from_floats(ctx, rope.sin, {tokens, rope.width}));
  s.finish();
  return out.to_floats();
}

TEST(FluxTransformer, FixtureWeightsInSpansMatchTheWholeSequence) {
  static_assert(52 * 32 * 4 > 6144 && 12 * 64 * 4 <= 6144);
  expect_close(fixture_forward_with_long_text(6144), fixture_forward_with_long_text(0));
}

}  // namespace
}  // namespace lattice
