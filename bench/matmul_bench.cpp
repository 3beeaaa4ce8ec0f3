// matmul/<weights>/<M>x<N>x<K>/<backend>: C[M, N] = A[M, K] * B[N, K]^T. The OpenBLAS sgemm run is the
// baseline measured in the same process (docs/performance.md). The Vulkan figure times submit + wait of
// one recorded dispatch with all data resident on the device; recording is excluded (timing paused).
// GFLOP_per_cpu_s divides by the process's CPU time instead, which other load on a shared machine moves less.
// Weights are f32, f16, bf16, f8e4m3fn or f8e5m2 (decoded inside the kernel), row-major (vulkan) or packed for
// the texel kernel (vulkan_packed, gpu::MatmulWeights: what models use on CPU devices); A and C are f32. The
// 4096x3072x3072 runs take seconds each on lavapipe, so they run a fixed single iteration.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <random>
#include <vector>

#include "bench/support.h"
#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/ops/matmul.h"

namespace {

using lattice::bench::process_cpu_seconds;

lattice::gpu::Context& gpu_context() {
  static auto* ctx = new lattice::gpu::Context();  // leaked on purpose: no teardown order issues at exit
  return *ctx;
}

std::vector<float> random_values(size_t n) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// FLOPS: per second of wall time; GFLOP_per_cpu_s: per CPU-second of the process since `cpu0`.
void set_flops(benchmark::State& state, int64_t m, int64_t n, int64_t k, double cpu0) {
  const double flop = 2.0 * static_cast<double>(m * n * k);
  state.counters["FLOPS"] = benchmark::Counter(flop, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP_per_cpu_s"] =
      1e-9 * flop * static_cast<double>(state.iterations()) / (process_cpu_seconds() - cpu0);
}

// `packed`: B in the texel kernel's packed layout (gpu::MatmulWeights), as models upload their weights on
// CPU devices; else row-major [N, K].
void bm_vulkan(benchmark::State& state, int64_t m, int64_t n, int64_t k, lattice::gpu::DType wt, bool packed) {
  using namespace lattice::gpu;
  Context& ctx = gpu_context();
  Tensor a = Tensor::from_floats(ctx, random_values(static_cast<size_t>(m * k)), {m, k});
  const std::vector<float> bv = random_values(static_cast<size_t>(n * k));
  std::vector<std::byte> raw(bv.size() * dtype_bytes(wt));
  encode(wt, bv, raw.data());
  const MatmulWeights b = packed ? upload_matmul_weights(ctx, raw, n, k, wt) : Tensor::from_bytes(ctx, raw, {n, k}, wt);
  if (b.packed != packed) {
    state.SkipWithError("this device keeps matmul weights row-major");
    return;
  }
  CommandStream s(ctx);
  // Warm-up: pipeline creation (and on lavapipe the shader variant for these buffers) on 16 rows of the
  // same A buffer, so the large sizes do not pay for a whole extra product.
  matmul(s, a.view({std::min<int64_t>(m, 16), k}, {k, 1}, 0), b);
  s.finish();
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    state.PauseTiming();
    Tensor c = matmul(s, a, b);
    state.ResumeTiming();
    s.finish();
  }
  set_flops(state, m, n, k, cpu0);
}

void bm_openblas(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  auto a = random_values(static_cast<size_t>(m * k)), b = random_values(static_cast<size_t>(n * k));
  std::vector<float> c(static_cast<size_t>(m * n));
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                1.0f, a.data(), static_cast<int>(k), b.data(), static_cast<int>(k), 0.0f, c.data(), static_cast<int>(n));
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, m, n, k, cpu0);
}

// matmul_pack/<weights>/<N>x<K>/{pack,memcpy}: the host cost of packing weights at load (what DeviceWeights
// adds per matrix on CPU devices) against copying the same bytes, the floor of any upload.
void bm_pack(benchmark::State& state, int64_t n, int64_t k, lattice::gpu::DType wt, bool pack) {
  std::vector<std::byte> src(static_cast<size_t>(n * k) * lattice::gpu::dtype_bytes(wt)), dst(src.size());
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::byte>(i * 2654435761u >> 24);
  for (auto _ : state) {
    if (pack)
      lattice::gpu::pack_matmul_weights(src, dst, n, k, wt);
    else
      std::memcpy(dst.data(), src.data(), src.size());
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(src.size()));
}

struct Size {
  int64_t m, n, k;
  bool large;  // seconds per product on lavapipe: one iteration
};

[[maybe_unused]] const bool kRegistered = [] {
  using lattice::gpu::DType;
  // 1024x768x768, 1024x3072x768, 1024x768x3072: the small Wan DiT's projections and FFN (bench/wan_dit_bench.cpp).
  for (Size z : {Size{1024, 1024, 1024, false}, Size{4096, 3072, 3072, true}, Size{1024, 768, 768, false},
                 Size{1024, 3072, 768, false}, Size{1024, 768, 3072, false}}) {
    std::string dims = std::to_string(z.m) + "x" + std::to_string(z.n) + "x" + std::to_string(z.k);
    auto* blas = benchmark::RegisterBenchmark(("matmul/f32/" + dims + "/openblas").c_str(), bm_openblas, z.m, z.n, z.k);
    blas->UseRealTime()->Unit(benchmark::kMillisecond);
    if (z.large) blas->Iterations(2);
    for (DType wt : {DType::F32, DType::F16, DType::BF16, DType::F8E4M3FN, DType::F8E5M2}) {
      for (bool packed : {false, true}) {
        std::string name = std::string("matmul/") + lattice::gpu::dtype_name(wt) + "/" + dims + (packed ? "/vulkan_packed" : "/vulkan");
        auto* vk = benchmark::RegisterBenchmark(name.c_str(), bm_vulkan, z.m, z.n, z.k, wt, packed);
        vk->UseRealTime()->Unit(benchmark::kMillisecond);
        if (z.large) vk->Iterations(1);
      }
    }
  }
  for (DType wt : {DType::F32, DType::BF16}) {
    const std::string name = std::string("matmul_pack/") + lattice::gpu::dtype_name(wt) + "/3072x12288/";
    for (bool pack : {false, true})
      benchmark::RegisterBenchmark((name + (pack ? "pack" : "memcpy")).c_str(), bm_pack, 3072, 12288, wt, pack)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

}  // namespace
