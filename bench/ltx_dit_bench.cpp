// One LTX-Video transformer forward of a small configuration (4 blocks, width 768 = 12 heads of 64,
// 3 x 16 x 16 = 768 video tokens, 128 text tokens of which 40 are real) on the Vulkan device, with data and
// weights resident.
//
// The weights and inputs are written to $TMPDIR/lattice_ltx_small.safetensors so that the PyTorch baseline
// (bench/torch/ltx_dit.py) builds the same model from the same weights; bench/ltx_dit_vs_torch.sh runs both
// and prints the ratio.
#include <benchmark/benchmark.h>

#include <cmath>
#include <filesystem>
#include <random>

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

void BM_LtxDitForward(benchmark::State& state) {
  const LtxTransformerConfig c = small_config();
  write_model(c, bench_file());
  WeightSource src = WeightSource::open(bench_file());
  src.strip_prefix("weights.");
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(src, ctx);
  LtxTransformer model(c, weights);
  auto up = [&](const char* name) {
    const HostTensor t = src.load(name);
    return gpu::Tensor::from_floats(ctx, t.to_f32(), t.shape);
  };
  const gpu::RopeTables rope = ltx_rope_tables(kF, kH, kW, kScale, c.inner_dim());
  const gpu::Tensor cos = gpu::Tensor::from_floats(ctx, rope.cos, {rope.length, rope.width});
  const gpu::Tensor sin = gpu::Tensor::from_floats(ctx, rope.sin, {rope.length, rope.width});
  const gpu::Tensor hidden = up("input.hidden_states"), context = up("input.encoder_hidden_states");
  const std::vector<float> mask = src.load("input.encoder_attention_mask").to_f32();
  {  // warm-up, untimed (as the PyTorch baseline's): llvmpipe compiles each shader variant on first use
    gpu::CommandStream s(ctx);
    model.forward(s, hidden, context, mask, {700.0f}, cos, sin);
    s.finish();
  }
  gpu::profile::reset();  // LATTICE_GPU_PROFILE then reports the timed forwards only
  for (auto _ : state) {
    gpu::CommandStream s(ctx);
    gpu::Tensor out = model.forward(s, hidden, context, mask, {700.0f}, cos, sin);
    s.finish();
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_LtxDitForward)->Name("ltx/dit_forward/small/vulkan")->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace
}  // namespace lattice
