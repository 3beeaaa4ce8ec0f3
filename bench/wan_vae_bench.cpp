// A tiled, multi-chunk Wan VAE decode (nodes/models/wan/vae.h decode_frames): a random-weight decoder of the
// Wan 2.1 shape at base_dim 32 (the released one has 96), a latent [1, 16, 5, 12, 12] (17 frames of 96 x 96)
// in 8-latent tiles overlapping by 2 (2 x 2 tiles), one latent frame per pass. "caches_parked" sets the
// device budget so that no tile's causal caches fit beside the pass (every tile's caches go to the host and
// back between passes: the behaviour before they were kept); "caches_resident" leaves the budget as it is
// (all four tiles keep theirs on the device). The same frames either way (tests/nodes/models/wan/vae_test.cpp);
// the ratio is what parking costs. Counters: process CPU seconds per decode and the caches' bytes.
#include <benchmark/benchmark.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "bench/support.h"
#include "core/safetensors.h"
#include "gpu/command_stream.h"
#include "nodes/models/wan/vae.h"
#include "nodes/models/weights.h"

namespace lattice {
namespace {

constexpr int64_t kFrames = 5, kSide = 12, kTile = 8, kOverlap = 2;

WanVaeConfig bench_config() {
  WanVaeConfig c;
  c.base_dim = 32;
  return c;
}

// Random weights (conv kernels N(0,1)/sqrt(fan_in), norm scales 1, biases 0.01 N(0,1)) written once.
std::filesystem::path weights_file() {
  const std::filesystem::path p = std::filesystem::temp_directory_path() / "lattice_wan_vae_bench.safetensors";
  if (std::filesystem::exists(p)) return p;
  std::mt19937 rng(11);
  std::normal_distribution<float> n01;
  std::vector<std::pair<std::string, HostTensor>> ts;
  for (const auto& [name, shape] : wan_vae_tensor_shapes(bench_config())) {
    int64_t n = 1, fan_in = 1;
    for (size_t k = 0; k < shape.size(); ++k) {
      n *= shape[k];
      if (k >= 1) fan_in *= shape[k];
    }
    std::vector<float> v(static_cast<size_t>(n), 1.0f);
    if (name.ends_with(".weight")) {
      for (float& x : v) x = n01(rng) / std::sqrt(static_cast<float>(fan_in));
    } else if (name.ends_with(".bias")) {
      for (float& x : v) x = 0.01f * n01(rng);
    }
    ts.emplace_back(name, HostTensor::from_f32(shape, v));
  }
  std::vector<std::pair<std::string, const HostTensor*>> refs;
  for (const auto& [name, t] : ts) refs.emplace_back(name, &t);
  write_safetensors(p, refs);
  return p;
}

void BM_TiledDecode(benchmark::State& state, bool parked) {
  gpu::Context& ctx = bench::op_bench_context();
  WeightSource src = WeightSource::open(weights_file());
  DeviceWeights weights(src, ctx);
  const WanVaeConfig c = bench_config();
  const WanVae vae(c, weights);
  const gpu::Tensor z = gpu::Tensor::from_floats(ctx, bench::random_values(16 * kFrames * kSide * kSide, 3), {1, 16, kFrames, kSide, kSide});
  const uint64_t budget = ctx.allocator().budget_bytes();
  if (parked) {
    // What is in use, the four tile latents and a pass's working set: no room for any tile's caches.
    ctx.allocator().set_budget(ctx.allocator().current_device_bytes() + 4 * 16 * kFrames * kTile * kTile * sizeof(float) +
                               WanVaeConfig::kWorkingSetFactor * c.decode_peak_tensor_bytes(1, kTile, kTile));
  }
  double cpu = 0;
  for (auto _ : state) {
    gpu::CommandStream s(ctx);
    const double t0 = bench::process_cpu_seconds();
    vae.decode_frames(s, z, kTile, kOverlap, 1, [](const HostTensor&, int64_t) {});
    cpu += bench::process_cpu_seconds() - t0;
  }
  ctx.allocator().set_budget(budget);
  state.counters["cpu_s_per_decode"] = benchmark::Counter(cpu / static_cast<double>(state.iterations()));
  state.counters["cache_MiB"] = benchmark::Counter(4.0 * static_cast<double>(c.decode_kept_cache_bytes(kFrames, 1, kTile, kTile)) / 1048576);
}
BENCHMARK_CAPTURE(BM_TiledDecode, parked, true)
    ->Name("wan_vae/tiled_decode/caches_parked/vulkan")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TiledDecode, resident, false)
    ->Name("wan_vae/tiled_decode/caches_resident/vulkan")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace lattice
