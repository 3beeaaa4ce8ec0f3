// attention/f32/<L>x<H>x<D>/<backend>: self-attention over L tokens, H heads of dim D, Q/K/V taken from
// [1, L, H*D] projections as the models produce them. FLOPS counts the two matrix products, 4*L^2*D*H.
// The baseline measured in the same run (docs/performance.md) is OpenBLAS: per head one sgemm for the
// scores, a row softmax, one sgemm for the output, materialising the [L, L] score matrix that the Vulkan
// kernel never stores. The Vulkan figure times submit + wait of one recorded dispatch with everything
// resident on the device; recording is excluded (timing paused).
#include <benchmark/benchmark.h>
#include <cstdlib>
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "bench/support.h"
#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/ops/attention.h"

namespace {

using lattice::bench::process_cpu_seconds;
using lattice::bench::random_values;


void set_flops(benchmark::State& state, int64_t l, int64_t h, int64_t d) {
  state.counters["FLOPS"] = benchmark::Counter(4.0 * double(l) * double(l) * double(d) * double(h),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void set_flops_per_cpu_second(benchmark::State& state, int64_t l, int64_t h, int64_t d, double cpu_seconds) {
  state.counters["GFLOP_per_cpu_s"] =
      4.0 * double(l) * double(l) * double(d) * double(h) * double(state.iterations()) / cpu_seconds * 1e-9;
}

// variant: empty for the one attention() chooses, or a name to force (e.g. "texel_tile").
void bm_vulkan(benchmark::State& state, int64_t l, int64_t h, int64_t d, const char* variant = "") {
  using namespace lattice::gpu;
  AttentionOptions opt;
  opt.variant = variant;
  Context& ctx = lattice::bench::op_bench_context();
  const auto n = static_cast<size_t>(l * h * d);
  Tensor q = split_heads(Tensor::from_floats(ctx, random_values(n, 1), {1, l, h * d}), h);
  Tensor k = split_heads(Tensor::from_floats(ctx, random_values(n, 2), {1, l, h * d}), h);
  Tensor v = split_heads(Tensor::from_floats(ctx, random_values(n, 3), {1, l, h * d}), h);
  CommandStream s(ctx);
  {
    // Create the pipelines (and let llvmpipe compile them) before anything is timed.
    Tensor o = attention(s, q, k, v, opt);
    s.finish();
  }
  double cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Tensor o = attention(s, q, k, v, opt);
    const double c0 = process_cpu_seconds();
    state.ResumeTiming();
    s.finish();
    cpu += process_cpu_seconds() - c0;
  }
  set_flops(state, l, h, d);
  set_flops_per_cpu_second(state, l, h, d, cpu);
}

void bm_openblas(benchmark::State& state, int64_t l, int64_t h, int64_t d) {
  const auto n = static_cast<size_t>(l * h * d);
  auto q = random_values(n, 1), k = random_values(n, 2), v = random_values(n, 3);
  std::vector<float> scores(static_cast<size_t>(l * l)), out(n);
  double cpu = 0;
  const int L = static_cast<int>(l), D = static_cast<int>(d), C = static_cast<int>(h * d);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  for (auto _ : state) {
    const double c0 = process_cpu_seconds();
    for (int64_t head = 0; head < h; ++head) {
      const size_t off = static_cast<size_t>(head * d);  // head slice of each [L, H*D] row (lda = H*D)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, D, scale, q.data() + off, C, k.data() + off, C, 0.0f,
                  scores.data(), L);
      for (int64_t i = 0; i < l; ++i) {
        float* row = scores.data() + i * l;
        float m = *std::max_element(row, row + l), sum = 0;
        for (int64_t j = 0; j < l; ++j) sum += (row[j] = std::exp(row[j] - m));
        for (int64_t j = 0; j < l; ++j) row[j] /= sum;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, D, L, 1.0f, scores.data(), L, v.data() + off, C, 0.0f,
                  out.data() + off, C);
    }
    benchmark::DoNotOptimize(out.data());
    cpu += process_cpu_seconds() - c0;
  }
  set_flops(state, l, h, d);
  set_flops_per_cpu_second(state, l, h, d, cpu);
}

// The small FLUX DiT of bench/flux_dit_bench.cpp: 1,024 image + 256 text tokens, 6 heads of 128; it runs
// one such attention per block (6 blocks).
BENCHMARK_CAPTURE(bm_openblas, 1280, 1280, 6, 128)->Name("attention/f32/1280x6x128/openblas")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 1280, 1280, 6, 128)->Name("attention/f32/1280x6x128/vulkan")->UseRealTime()->Iterations(3)->Unit(benchmark::kMillisecond);
// LTX-Video's head dim.
BENCHMARK_CAPTURE(bm_openblas, 1024, 1024, 24, 64)->Name("attention/f32/1024x24x64/openblas")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 1024, 1024, 24, 64)->Name("attention/f32/1024x24x64/vulkan")->UseRealTime()->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_openblas, 1024, 1024, 24, 128)->Name("attention/f32/1024x24x128/openblas")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 1024, 1024, 24, 128)->Name("attention/f32/1024x24x128/vulkan")->UseRealTime()->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 2048, 2048, 12, 128)->Name("attention/f32/2048x12x128/vulkan")->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_openblas, 4096, 4096, 24, 128)->Name("attention/f32/4096x24x128/openblas")->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 4096, 4096, 24, 128)->Name("attention/f32/4096x24x128/vulkan")->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
// At head dims above 64 "vulkan" is attention composed from the packed texel matmul on CPU devices ("matmul",
// gpu/ops/attention.cpp); the score-tile kernel it replaced there (texel_tile) and the row kernel (texel) beside
// it, in the same run. At 64 "vulkan" is the row kernel, the composition beside it.
BENCHMARK_CAPTURE(bm_vulkan, 1280_tile, 1280, 6, 128, "texel_tile")->Name("attention/f32/1280x6x128/vulkan_tile")->UseRealTime()->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 1280_texel, 1280, 6, 128, "texel")->Name("attention/f32/1280x6x128/vulkan_texel")->UseRealTime()->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 4096_tile, 4096, 24, 128, "texel_tile")->Name("attention/f32/4096x24x128/vulkan_tile")->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 4096_texel, 4096, 24, 128, "texel")->Name("attention/f32/4096x24x128/vulkan_texel")->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 1024_64_matmul, 1024, 24, 64, "matmul")->Name("attention/f32/1024x24x64/vulkan_matmul")->UseRealTime()->Iterations(2)->Unit(benchmark::kMillisecond);
// The largest head dim: "vulkan" is the composition, the tile kernel (4 rows per invocation there) and the row
// kernel (texel, 2 rows) beside it.
BENCHMARK_CAPTURE(bm_openblas, 1024_256, 1024, 8, 256)->Name("attention/f32/1024x8x256/openblas")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 1024_256, 1024, 8, 256)->Name("attention/f32/1024x8x256/vulkan")->UseRealTime()->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 1024_256_tile, 1024, 8, 256, "texel_tile")->Name("attention/f32/1024x8x256/vulkan_tile")->UseRealTime()->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, 1024_256_texel, 1024, 8, 256, "texel")->Name("attention/f32/1024x8x256/vulkan_texel")->UseRealTime()->Iterations(2)->Unit(benchmark::kMillisecond);

}  // namespace
