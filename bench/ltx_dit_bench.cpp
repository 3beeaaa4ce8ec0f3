// One LTX-Video transformer forward of a small configuration (4 blocks, width 768 = 12 heads of 64,
// 3 x 16 x 16 = 768 video tokens, 128 text tokens of which 40 are real) on the Vulkan device, with data and
// weights resident; and the same forward with its blocks streamed through two slots and through one
// (ltx/dit_forward_streamed: wall and process CPU time, bytes uploaded per forward).
//
// The weights and inputs are written to $TMPDIR/lattice_ltx_small.safetensors so that the PyTorch baseline
// (bench/torch/ltx_dit.py) builds the same model from the same weights; bench/ltx_dit_vs_torch.sh runs both
// and prints the ratio.
#include <benchmark/benchmark.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "bench/dit_streaming.h"
#include "bench/support.h"
#include "core/safetensors.h"
#include "gpu/profile.h"
#include "nodes/gpu_service.h"
#include "nodes/models/ltx/transformer.h"

namespace lattice {
namespace {

constexpr int64_t kF = 3, kH = 16, kW = 16, kTxt = 128, kValid = 40;
const std::array<float, 3> kScale{8.0f / 25.0f, 32.0f, 32.0f};

LtxTransformerConfig small_config() {
  LtxTransformerConfig c;
  c.num_layers = 4;
  c.num_attention_heads = 12;
  c.attention_head_dim = 64;
  c.cross_attention_dim = 768;
  c.caption_channels = 1024;
  return c;
}

std::filesystem::path bench_file() { return std::filesystem::temp_directory_path() / "lattice_ltx_small.safetensors"; }

// Random weights as in tests/golden/README.md: matrices N(0,1)/sqrt(fan_in), biases 0.1 N(0,1), norm scales 1 + 0.1 N(0,1).
void write_model(const LtxTransformerConfig& c, const std::filesystem::path& path) {
  std::mt19937 rng(4321);
  std::normal_distribution<float> n01;
  std::vector<std::pair<std::string, HostTensor>> ts;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, int kind) {
    std::vector<float> v(static_cast<size_t>(HostTensor{DType::F32, shape, {}}.numel()));
    const float fan = shape.size() == 2 ? 1.0f / std::sqrt(static_cast<float>(shape[1])) : 1.0f;
    for (auto& x : v) x = kind == 0 ? n01(rng) * fan : kind == 1 ? 0.1f * n01(rng) : 1.0f + 0.1f * n01(rng);
    ts.emplace_back(name.rfind("input.", 0) == 0 ? name : "weights." + name, HostTensor::from_f32(shape, v));
  };
  // The checkpoint's tensors in model order (the random sequence depends on it): matrices and the
  // modulation tables fan-scaled, biases small, norm scales around 1.
  for (const auto& [name, shape] : ltx_checkpoint_shapes(c))
    add(name, shape, name.ends_with(".bias") ? 1 : shape.size() == 1 ? 2 : 0);
  add("input.hidden_states", {1, kF * kH * kW, c.in_channels}, 2);
  add("input.encoder_hidden_states", {1, kTxt, c.caption_channels}, 2);
  std::vector<float> mask(kTxt, 0.0f);
  std::fill_n(mask.begin(), kValid, 1.0f);
  ts.emplace_back("input.encoder_attention_mask", HostTensor::from_f32({1, kTxt}, mask));
  ts.emplace_back("input.timestep", HostTensor::from_f32({1}, {700.0f}));
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [k, t] : ts) list.emplace_back(k, &t);
  const nlohmann::json config = {{"in_channels", c.in_channels}, {"out_channels", c.out_channels}, {"num_layers", c.num_layers},
                                 {"num_attention_heads", c.num_attention_heads}, {"attention_head_dim", c.attention_head_dim},
                                 {"cross_attention_dim", c.cross_attention_dim}, {"caption_channels", c.caption_channels}};
  const nlohmann::json run = {{"latent_fhw", {kF, kH, kW}}, {"rope_interpolation_scale", kScale}};
  write_safetensors(path, list, {{"class", "LTXVideoTransformer3DModel"}, {"config", config.dump()}, {"run", run.dump()}});
}

// The small model on a fresh device whose budget is `budget_mib` (0: the device's default), inputs resident.
struct SmallLtx {
  LtxTransformerConfig c = small_config();
  WeightSource src;
  GpuService gpu;
  gpu::Context& ctx;
  DeviceWeights weights;
  LtxTransformer model;
  gpu::Tensor cos, sin, hidden, context;
  std::vector<float> mask;

  explicit SmallLtx(uint64_t budget_mib)
      : src(open()), ctx(bench::context_with_budget(gpu, budget_mib)), weights(src, ctx), model(c, weights) {
    auto up = [&](const char* name) {
      const HostTensor t = src.load(name);
      return gpu::Tensor::from_floats(ctx, t.to_f32(), t.shape);
    };
    const gpu::RopeTables rope = ltx_rope_tables(kF, kH, kW, kScale, c.inner_dim());
    cos = gpu::Tensor::from_floats(ctx, rope.cos, {rope.length, rope.width});
    sin = gpu::Tensor::from_floats(ctx, rope.sin, {rope.length, rope.width});
    hidden = up("input.hidden_states");
    context = up("input.encoder_hidden_states");
    mask = src.load("input.encoder_attention_mask").to_f32();
  }
  static WeightSource open() {
    WeightSource w = WeightSource::open(bench_file());
    w.strip_prefix("weights.");
    return w;
  }
  void forward() {
    gpu::CommandStream s(ctx);
    gpu::Tensor out = model.forward(s, hidden, context, mask, {700.0f}, cos, sin);
    s.finish();
    benchmark::DoNotOptimize(out);
  }
};

void BM_LtxDitForward(benchmark::State& state) {
  write_model(small_config(), bench_file());
  SmallLtx m(0);
  m.forward();  // warm-up, untimed (as the PyTorch baseline's): llvmpipe compiles each shader variant on first use
  gpu::profile::reset();  // LATTICE_GPU_PROFILE then reports the timed forwards only
  const double cpu0 = bench::process_cpu_seconds();
  for (auto _ : state) m.forward();
  // CPU-seconds of the whole process (lavapipe's workers included) per forward: less moved by other load than wall time.
  state.counters["cpu_s_per_forward"] = (bench::process_cpu_seconds() - cpu0) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_LtxDitForward)->Name("ltx/dit_forward/small/vulkan")->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// The same forward with every block resident (arg 0) or streamed through 2 or 1 slots with none resident
// (the budget from bench::streaming_budget_mib), so that every forward uploads all four blocks
// (nodes/models/block_streamer.h). Compare the three in the same run.
void BM_LtxDitForwardStreamed(benchmark::State& state) {
  if (!std::filesystem::exists(bench_file())) write_model(small_config(), bench_file());
  bench::streamed_forward<SmallLtx>(
      state, [](SmallLtx& m) { return ltx_activation_bytes(m.c, kF * kH * kW, kTxt, 1, false); },
      [](SmallLtx& m) { return block_device_bytes(m.src, ltx_block_prefixes(m.c)); });
}
BENCHMARK(BM_LtxDitForwardStreamed)->Name("ltx/dit_forward_streamed/small/vulkan")->Arg(0)->Arg(2)->Arg(1)
    ->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace
}  // namespace lattice
