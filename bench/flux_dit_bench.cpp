// One FLUX transformer forward of a small configuration (2 double + 4 single blocks, width 768 = 6 heads of
// 128, 1,024 image tokens, 256 text tokens) on the Vulkan device, with data and weights resident.
//
// The weights and inputs are written to $TMPDIR/lattice_flux_small.safetensors so that the PyTorch
// baseline (bench/torch/flux_dit.py) builds the same model from the same weights; bench/flux_dit_vs_torch.sh
// runs both and prints the ratio.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "bench/dit_streaming.h"
#include "bench/support.h"
#include "core/safetensors.h"
#include "gpu/ops/rope.h"
#include "gpu/profile.h"
#include "nodes/gpu_service.h"
#include "nodes/models/flux/transformer.h"

namespace lattice {
namespace {

FluxConfig small_config() {
  FluxConfig c;
  c.num_layers = 2;
  c.num_single_layers = 4;
  c.num_attention_heads = 6;
  c.attention_head_dim = 128;
  return c;
}

nlohmann::json config_json(const FluxConfig& c) {
  return {{"patch_size", 1}, {"in_channels", c.in_channels}, {"out_channels", c.out_channels}, {"num_layers", c.num_layers},
          {"num_single_layers", c.num_single_layers}, {"attention_head_dim", c.attention_head_dim},
          {"num_attention_heads", c.num_attention_heads}, {"joint_attention_dim", c.joint_attention_dim},
          {"pooled_projection_dim", c.pooled_projection_dim}, {"guidance_embeds", c.guidance_embeds},
          {"axes_dims_rope", c.axes_dims_rope}};
}

std::filesystem::path bench_file() { return std::filesystem::temp_directory_path() / "lattice_flux_small.safetensors"; }

// Random weights as in tests/golden/README.md: matrices N(0,1)/sqrt(fan_in), biases 0.1 N(0,1), norm scales 1 + 0.1 N(0,1).
void write_model(const FluxConfig& c, const std::filesystem::path& path, int64_t img_side, int64_t txt) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> n01;
  std::vector<std::pair<std::string, HostTensor>> ts;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, int kind) {
    HostTensor t{DType::F32, shape, {}};
    std::vector<float> v(static_cast<size_t>(t.numel()));
    const float fan = shape.size() == 2 ? 1.0f / std::sqrt(static_cast<float>(shape[1])) : 1.0f;
    for (auto& x : v) x = kind == 0 ? n01(rng) * fan : kind == 1 ? 0.1f * n01(rng) : 1.0f + 0.1f * n01(rng);
    ts.emplace_back(name.rfind("input.", 0) == 0 ? name : "weights." + name, HostTensor::from_f32(shape, v));
  };
  auto linear = [&](const std::string& p, int64_t out, int64_t in) {
    add(p + ".weight", {out, in}, 0);
    add(p + ".bias", {out}, 1);
  };
  const int64_t d = c.inner_dim(), m = c.mlp_hidden(), hd = c.attention_head_dim;
  linear("x_embedder", d, c.in_channels);
  linear("context_embedder", d, c.joint_attention_dim);
  for (const char* e : {"timestep_embedder", "guidance_embedder"}) {
    linear(std::string("time_text_embed.") + e + ".linear_1", d, 256);
    linear(std::string("time_text_embed.") + e + ".linear_2", d, d);
  }
  linear("time_text_embed.text_embedder.linear_1", d, c.pooled_projection_dim);
  linear("time_text_embed.text_embedder.linear_2", d, d);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i) + ".";
    linear(p + "norm1.linear", 6 * d, d);
    linear(p + "norm1_context.linear", 6 * d, d);
    for (const char* n : {"attn.to_q", "attn.to_k", "attn.to_v", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj",
                          "attn.to_out.0", "attn.to_add_out"})
      linear(p + n, d, d);
    for (const char* n : {"attn.norm_q.weight", "attn.norm_k.weight", "attn.norm_added_q.weight", "attn.norm_added_k.weight"})
      add(p + n, {hd}, 2);
    linear(p + "ff.net.0.proj", m, d);
    linear(p + "ff.net.2", d, m);
    linear(p + "ff_context.net.0.proj", m, d);
    linear(p + "ff_context.net.2", d, m);
  }
  for (int i = 0; i < c.num_single_layers; ++i) {
    const std::string p = "single_transformer_blocks." + std::to_string(i) + ".";
    linear(p + "norm.linear", 3 * d, d);
    for (const char* n : {"attn.to_q", "attn.to_k", "attn.to_v"}) linear(p + n, d, d);
    add(p + "attn.norm_q.weight", {hd}, 2);
    add(p + "attn.norm_k.weight", {hd}, 2);
    linear(p + "proj_mlp", m, d);
    linear(p + "proj_out", d, d + m);
  }
  linear("norm_out.linear", 2 * d, d);
  linear("proj_out", c.out_channels, d);
  add("input.hidden_states", {1, img_side * img_side, c.in_channels}, 2);
  add("input.encoder_hidden_states", {1, txt, c.joint_attention_dim}, 2);
  add("input.pooled_projections", {1, c.pooled_projection_dim}, 2);
  ts.emplace_back("input.timestep", HostTensor::from_f32({1}, {0.75f}));
  ts.emplace_back("input.guidance", HostTensor::from_f32({1}, {3.5f}));
  std::vector<float> img_ids, txt_ids(static_cast<size_t>(txt * 3), 0.0f);
  for (int64_t r = 0; r < img_side; ++r)
    for (int64_t col = 0; col < img_side; ++col) img_ids.insert(img_ids.end(), {0.0f, static_cast<float>(r), static_cast<float>(col)});
  ts.emplace_back("input.img_ids", HostTensor::from_f32({img_side * img_side, 3}, img_ids));
  ts.emplace_back("input.txt_ids", HostTensor::from_f32({txt, 3}, txt_ids));
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [k, t] : ts) list.emplace_back(k, &t);
  write_safetensors(path, list, {{"class", "FluxTransformer2DModel"}, {"config", config_json(c).dump()}});
}

// The small model on a fresh device whose budget is `budget_mib` (0: the device's default), inputs resident.
struct SmallFlux {
  static constexpr int64_t side = 32, txt = 256;  // 1,024 image tokens
  FluxConfig c = small_config();
  WeightSource src;
  GpuService gpu;
  gpu::Context& ctx;
  DeviceWeights weights;
  FluxTransformer model;
  gpu::Tensor hidden, context, pooled, cos, sin;

  explicit SmallFlux(uint64_t budget_mib)
      : src(open(c)), ctx(bench::context_with_budget(gpu, budget_mib)), weights(src, ctx), model(c, weights) {
    auto up = [&](const char* name) {
      const HostTensor t = src.load(name);
      return gpu::Tensor::from_floats(ctx, t.to_f32(), t.shape);
    };
    std::vector<float> ids = src.load("input.txt_ids").to_f32();
    const auto img = src.load("input.img_ids").to_f32();
    ids.insert(ids.end(), img.begin(), img.end());
    const int64_t axes[3] = {c.axes_dims_rope[0], c.axes_dims_rope[1], c.axes_dims_rope[2]};
    const gpu::RopeTables rope = gpu::flux_rope_tables(ids, axes);
    cos = gpu::Tensor::from_floats(ctx, rope.cos, {rope.length, rope.width});
    sin = gpu::Tensor::from_floats(ctx, rope.sin, {rope.length, rope.width});
    hidden = up("input.hidden_states");
    context = up("input.encoder_hidden_states");
    pooled = up("input.pooled_projections");
  }
  static WeightSource open(const FluxConfig& c) {
    if (!std::filesystem::exists(bench_file())) write_model(c, bench_file(), side, txt);
    WeightSource w = WeightSource::open(bench_file());
    w.strip_prefix("weights.");
    return w;
  }
  void forward() {
    gpu::CommandStream s(ctx);
    gpu::Tensor out = model.forward(s, hidden, context, pooled, {0.75f}, {3.5f}, cos, sin);
    s.finish();
    benchmark::DoNotOptimize(out);
  }
};

void BM_FluxDitForward(benchmark::State& state) {
  std::filesystem::remove(bench_file());  // written afresh, for the PyTorch baseline too
  SmallFlux f(0);
  f.forward();  // warm-up, untimed (as the PyTorch baseline's): llvmpipe compiles each shader variant on first use
  gpu::profile::reset();  // LATTICE_GPU_PROFILE then reports the timed forwards only
  const double cpu0 = bench::process_cpu_seconds();
  for (auto _ : state) f.forward();
  // CPU-seconds of the whole process (lavapipe's workers included) per forward: less moved by other load than wall time.
  state.counters["cpu_s_per_forward"] = (bench::process_cpu_seconds() - cpu0) / static_cast<double>(state.iterations());
  state.counters["FLOPS"] = benchmark::Counter(f.c.forward_flops(SmallFlux::side * SmallFlux::side, SmallFlux::txt) *
                                                   static_cast<double>(state.iterations()),
                                               benchmark::Counter::kIsRate);
  state.counters["peak_device_MiB"] = static_cast<double>(f.ctx.peak_device_bytes()) / (1 << 20);
}
BENCHMARK(BM_FluxDitForward)->Name("flux/dit_forward/small/vulkan")->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// The same forward under a device budget that leaves room for two slots of the largest block plus
// `state.range(0)` percent of the other block weights beside everything else (0: only the slots), so that
// the blocks that do not fit stream on every forward
// (nodes/models/block_streamer.h). Compare with flux/dit_forward/small/vulkan of the same run.
void BM_FluxDitForwardStreamed(benchmark::State& state) {
  uint64_t budget_mib = 0;
  {
    // Measure what the resident model holds beside its blocks, on a default device.
    SmallFlux probe(0);
    probe.forward();
    const BlockStreamPlan& p = probe.model.stream_stats().plan;
    const uint64_t fixed = probe.ctx.allocator().current_device_bytes() - p.resident_bytes +
                           flux_activation_bytes(probe.c, 1, SmallFlux::side * SmallFlux::side, SmallFlux::txt);
    uint64_t largest = 0;
    for (uint64_t b : block_device_bytes(probe.src, flux_block_prefixes(probe.c))) largest = std::max(largest, b);
    const uint64_t room = 2 * largest + (p.resident_bytes - 2 * largest) * static_cast<uint64_t>(state.range(0)) / 100;
    budget_mib = (fixed + room + (1 << 20) - 1) >> 20;
  }
  SmallFlux f(budget_mib);
  f.forward();  // plans and uploads the resident blocks
  f.ctx.allocator().reset_peak();
  const uint64_t streamed_before = f.model.stream_stats().streamed_bytes;
  const double upload_before = f.model.stream_stats().upload_seconds;
  for (auto _ : state) f.forward();
  const BlockStreamStats& st = f.model.stream_stats();
  state.counters["budget_MiB"] = static_cast<double>(budget_mib);
  state.counters["peak_device_MiB"] = static_cast<double>(f.ctx.peak_device_bytes()) / (1 << 20);
  state.counters["resident_blocks"] = st.plan.resident;
  state.counters["slots"] = st.plan.slots;
  state.counters["upload_ms_per_forward"] =
      (st.upload_seconds - upload_before) * 1000.0 / static_cast<double>(state.iterations());
  state.counters["streamed_MiB_per_forward"] =
      static_cast<double>(st.streamed_bytes - streamed_before) / (1 << 20) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_FluxDitForwardStreamed)
    ->Name("flux/dit_forward_streamed/small/vulkan")
    ->Arg(50)
    ->Arg(0)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();

}  // namespace
}  // namespace lattice
