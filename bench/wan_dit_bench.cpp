// One Wan 2.1 transformer forward of a small configuration (4 blocks, width 768 = 6 heads of 128, FFN 3072,
// a latent [1, 16, 4, 32, 32] = 1,024 video tokens, 512 text tokens of width 4096 as UMT5 gives) on the
// Vulkan device, with data and weights resident; and the same forward with its blocks streamed through two
// slots and through one (wan/dit_forward_streamed: wall and process CPU time, bytes uploaded per forward).
//
// The weights and inputs are written to $TMPDIR/lattice_wan_small.safetensors (fixture layout) so that the
// PyTorch baseline (bench/torch/wan_dit.py) builds the same model from the same weights;
// bench/wan_dit_vs_torch.sh runs both and prints the ratio.
#include <benchmark/benchmark.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "bench/dit_streaming.h"
#include "bench/support.h"
#include "core/safetensors.h"
#include "gpu/profile.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/wan/transformer.h"

namespace lattice {
namespace {

WanConfig small_config() {
  WanConfig c;
  c.num_attention_heads = 6;
  c.ffn_dim = 3072;
  c.num_layers = 4;
  return c;
}

nlohmann::json config_json(const WanConfig& c) {
  return {{"patch_size", c.patch_size}, {"num_attention_heads", c.num_attention_heads},
          {"attention_head_dim", c.attention_head_dim}, {"in_channels", c.in_channels}, {"out_channels", c.out_channels},
          {"text_dim", c.text_dim}, {"freq_dim", c.freq_dim}, {"ffn_dim", c.ffn_dim}, {"num_layers", c.num_layers},
          {"cross_attn_norm", c.cross_attn_norm}, {"eps", c.eps}, {"image_dim", nullptr}, {"added_kv_proj_dim", nullptr},
          {"rope_max_seq_len", c.rope_max_seq_len}};
}

std::filesystem::path bench_file() { return std::filesystem::temp_directory_path() / "lattice_wan_small.safetensors"; }

// Random weights as in tests/golden/README.md: matrices N(0,1)/sqrt(fan_in), vectors 0.1 N(0,1) (norm scales
// 1 + that), modulation tables N(0,1)/sqrt(width); inputs N(0,1).
void write_model(const WanConfig& c, const std::vector<int64_t>& latent, int64_t txt) {
  std::mt19937 rng(4321);
  std::normal_distribution<float> n01;
  std::vector<std::pair<std::string, HostTensor>> ts;
  auto random = [&](const std::string& name, const std::vector<int64_t>& shape, float scale, float offset) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = offset + scale * n01(rng);
    ts.emplace_back(name, HostTensor::from_f32(shape, v));
  };
  for (const auto& [name, shape] : wan_checkpoint_shapes(c)) {
    const bool norm = name.find("norm") != std::string::npos && name.ends_with(".weight");
    if (shape.size() >= 2 && name.find("scale_shift_table") == std::string::npos)
      random("weights." + name, shape, 1.0f / std::sqrt(static_cast<float>(shape[1] * (shape.size() == 5 ? 4 : 1))), 0.0f);
    else if (shape.size() == 3)
      random("weights." + name, shape, 1.0f / std::sqrt(static_cast<float>(c.inner_dim())), 0.0f);
    else
      random("weights." + name, shape, 0.1f, norm ? 1.0f : 0.0f);
  }
  random("input.hidden_states", latent, 1.0f, 0.0f);
  random("input.encoder_hidden_states", {1, txt, c.text_dim}, 1.0f, 0.0f);
  ts.emplace_back("input.timestep", HostTensor::from_f32({1}, {750.0f}));
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [k, t] : ts) list.emplace_back(k, &t);
  write_safetensors(bench_file(), list, {{"class", "WanTransformer3DModel"}, {"config", config_json(c).dump()}});
}

constexpr int64_t kTxt = 512;
const std::vector<int64_t> kLatent = {1, 16, 4, 32, 32};  // 4 x 16 x 16 = 1,024 tokens

// The small model on a fresh device whose budget is `budget_mib` (0: the device's default), inputs resident.
struct SmallWan {
  WanConfig c = small_config();
  Fixture fx{bench_file()};
  WeightSource src = fixture_weights(fx);
  GpuService gpu;
  gpu::Context& ctx;
  DeviceWeights weights;
  WanTransformer model;
  gpu::Tensor hidden, context;

  explicit SmallWan(uint64_t budget_mib) : ctx(bench::context_with_budget(gpu, budget_mib)), weights(src, ctx), model(c, weights) {
    hidden = upload_fixture_tensor(ctx, fx, "input.hidden_states");
    context = upload_fixture_tensor(ctx, fx, "input.encoder_hidden_states");
  }
  void forward() {
    gpu::CommandStream s(ctx);
    gpu::Tensor out = model.forward(s, hidden, {750.0f}, context);
    s.finish();
    benchmark::DoNotOptimize(out);
  }
};

void BM_WanDitForward(benchmark::State& state) {
  const WanConfig c = small_config();
  write_model(c, kLatent, kTxt);
  SmallWan m(0);
  m.forward();  // warm-up, untimed (as the PyTorch baseline's): llvmpipe compiles each shader variant on first use
  gpu::profile::reset();  // LATTICE_GPU_PROFILE then reports the timed forwards only
  const double cpu0 = bench::process_cpu_seconds();
  for (auto _ : state) m.forward();
  // CPU-seconds of the whole process (lavapipe's workers included) per forward: less moved by other load than wall time.
  state.counters["cpu_s_per_forward"] = (bench::process_cpu_seconds() - cpu0) / static_cast<double>(state.iterations());
  state.counters["FLOPS"] = benchmark::Counter(c.forward_flops(4 * 16 * 16, kTxt, 0) * static_cast<double>(state.iterations()),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_WanDitForward)->Name("wan/dit_forward/small/vulkan")->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// The same forward with every block resident (arg 0) or streamed through 2 or 1 slots with none resident
// (the budget from bench::streaming_budget_mib), so that every forward uploads all four blocks
// (nodes/models/block_streamer.h). Compare the three in the same run.
void BM_WanDitForwardStreamed(benchmark::State& state) {
  if (!std::filesystem::exists(bench_file())) write_model(small_config(), kLatent, kTxt);
  bench::streamed_forward<SmallWan>(
      state, [](SmallWan& m) { return wan_activation_bytes(m.c, 4 * 16 * 16, kTxt, 1); },
      [](SmallWan& m) { return block_device_bytes(m.src, wan_block_prefixes(m.c)); });
}
BENCHMARK(BM_WanDitForwardStreamed)->Name("wan/dit_forward_streamed/small/vulkan")->Arg(0)->Arg(2)->Arg(1)
    ->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace
}  // namespace lattice
