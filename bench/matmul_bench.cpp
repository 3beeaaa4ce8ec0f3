// matmul/<weights>/<M>x<N>x<K>/<backend>: C[M, N] = A[M, K] * B[N, K]^T. The OpenBLAS sgemm run is the
// baseline measured in the same process (docs/performance.md). The Vulkan figure times submit + wait of
// one recorded dispatch with all data resident on the device; recording is excluded (timing paused).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <memory>
#include <random>
#include <vector>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/ops/matmul.h"

namespace {

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

void set_flops(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  state.counters["FLOPS"] = benchmark::Counter(2.0 * static_cast<double>(m * n * k),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void bm_vulkan(benchmark::State& state, int64_t m, int64_t n, int64_t k, lattice::gpu::DType wt) {
  using namespace lattice::gpu;
  Context& ctx = gpu_context();
  Tensor a = Tensor::from_floats(ctx, random_values(static_cast<size_t>(m * k)), {m, k});
  Tensor b = Tensor::from_floats(ctx, random_values(static_cast<size_t>(n * k)), {n, k}, wt);
  CommandStream s(ctx);
  matmul(s, a, b);  // warm-up: pipeline creation and first touch of the memory
  s.finish();
  for (auto _ : state) {
    state.PauseTiming();
    Tensor c = matmul(s, a, b);
    state.ResumeTiming();
    s.finish();
  }
  set_flops(state, m, n, k);
}

void bm_openblas(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  auto a = random_values(static_cast<size_t>(m * k)), b = random_values(static_cast<size_t>(n * k));
  std::vector<float> c(static_cast<size_t>(m * n));
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                1.0f, a.data(), static_cast<int>(k), b.data(), static_cast<int>(k), 0.0f, c.data(), static_cast<int>(n));
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, m, n, k);
}

using lattice::gpu::DType;
BENCHMARK_CAPTURE(bm_openblas, 1024, 1024, 1024, 1024)->Name("matmul/f32/1024x1024x1024/openblas")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 1024, 1024, 1024, 1024, DType::F32)->Name("matmul/f32/1024x1024x1024/vulkan")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 1024f16, 1024, 1024, 1024, DType::F16)->Name("matmul/f16/1024x1024x1024/vulkan")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_openblas, 4096, 4096, 3072, 3072)->Name("matmul/f32/4096x3072x3072/openblas")->UseRealTime()->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 4096, 4096, 3072, 3072, DType::F32)->Name("matmul/f32/4096x3072x3072/vulkan")->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 4096f16, 4096, 3072, 3072, DType::F16)->Name("matmul/f16/4096x3072x3072/vulkan")->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
