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
    test::expect_streaming_equals_resident([&](uint64_t mib, auto patches) { return sample(mib, image, patches); }, 4);
  }
}

TEST_F(LtxStreaming, LoraPatchesApplyToStreamedBlocks) {
  // One patch on the leading (resident) block and one on the last (streamed) block.
  const auto patches = test::random_lora({
      {"transformer_blocks.0.attn1.to_q.weight", 256, 256},
      {"transformer_blocks.3.ff.net.0.proj.weight", 1536, 256}});
  EXPECT_NE(sample(0, false, patches).out, sample(0, false).out);
  test::expect_streaming_equals_resident([&](uint64_t mib, auto p) { return sample(mib, false, p); }, 4, patches);
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
