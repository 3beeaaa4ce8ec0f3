// conv3d/<weights>/<shape>/<backend>: a Wan-VAE-like causal 3x3x3 conv, N=1, 128 -> 128 channels, 4 frames of
// 64x64 (causal time padding of 2 zero frames, spatial padding 1). The baseline measured in the same run
// (docs/performance.md) is the textbook CPU conv: im2col of one output frame at a time ([Cin*27, H*W]) then
// OpenBLAS sgemm against the weights [Cout, Cin*27]; both the im2col and the sgemm are timed. The Vulkan
// figure times submit + wait of the recorded conv (packing passes included) with all data resident on the
// device; recording is excluded (timing paused).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <vector>

#include "bench/support.h"
#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/ops/conv3d.h"

namespace {

struct Shape3 {
  int64_t c, t, h, w;  // channels in = out, frames, height, width; kernel 3x3x3, causal
};
constexpr Shape3 kWanLike{128, 4, 64, 64};

using lattice::bench::random_values;

void set_flops(benchmark::State& state, const Shape3& s) {
  double flops = 2.0 * static_cast<double>(s.c * s.c * 27) * static_cast<double>(s.t * s.h * s.w);
  state.counters["FLOPS"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_vulkan(benchmark::State& state, Shape3 sh, lattice::gpu::DType wt) {
  using namespace lattice::gpu;
  Context& ctx = lattice::bench::op_bench_context();
  Tensor x = Tensor::from_floats(ctx, random_values(static_cast<size_t>(sh.c * sh.t * sh.h * sh.w), 1), {1, sh.c, sh.t, sh.h, sh.w});
  Tensor w = Tensor::from_floats(ctx, random_values(static_cast<size_t>(sh.c * sh.c * 27), 2), {sh.c, sh.c, 3, 3, 3}, wt);
  Tensor b = Tensor::from_floats(ctx, random_values(static_cast<size_t>(sh.c), 3), {sh.c});
  Conv3dParams p = Conv3dParams::causal(3, 1, 1);
  CommandStream s(ctx);
  conv3d(s, x, w, b, p);  // warm-up: pipeline creation and first touch of the memory
  s.finish();
  for (auto _ : state) {
    state.PauseTiming();
    Tensor y = conv3d(s, x, w, b, p);
    state.ResumeTiming();
    s.finish();
  }
  set_flops(state, sh);
}

void bm_im2col_openblas(benchmark::State& state, Shape3 sh) {
  const int64_t c = sh.c, t = sh.t, h = sh.h, w = sh.w, k = c * 27, hw = h * w;
  auto x = random_values(static_cast<size_t>(c * t * hw), 1), wt = random_values(static_cast<size_t>(c * k), 2);
  auto bias = random_values(static_cast<size_t>(c), 3);
  std::vector<float> cols(static_cast<size_t>(k * hw)), y(static_cast<size_t>(c * t * hw));
  for (auto _ : state) {
    for (int64_t to = 0; to < t; ++to) {
      // cols[(ci, dt, dy, dx), (y, x)]: the causal frame index to + dt - 2 is zero below 0.
      float* col = cols.data();
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t dt = 0; dt < 3; ++dt)
          for (int64_t dy = 0; dy < 3; ++dy)
            for (int64_t dx = 0; dx < 3; ++dx, col += hw) {
              int64_t ti = to + dt - 2;
              for (int64_t yo = 0; yo < h; ++yo) {
                int64_t yi = yo + dy - 1;
                float* dst = col + yo * w;
                if (ti < 0 || yi < 0 || yi >= h) {
                  std::fill(dst, dst + w, 0.0f);
                  continue;
                }
                const float* src = x.data() + ((ci * t + ti) * h + yi) * w;
                for (int64_t xo = 0; xo < w; ++xo) {
                  int64_t xi = xo + dx - 1;
                  dst[xo] = xi < 0 || xi >= w ? 0.0f : src[xi];
                }
              }
            }
      // y[co, to, :, :] = W[co, :] * cols + bias[co]; output rows are strided by t*hw.
      float* out = y.data() + to * hw;
      for (int64_t co = 0; co < c; ++co) std::fill(out + co * t * hw, out + co * t * hw + hw, bias[static_cast<size_t>(co)]);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(c), static_cast<int>(hw), static_cast<int>(k),
                  1.0f, wt.data(), static_cast<int>(k), cols.data(), static_cast<int>(hw), 1.0f, out,
                  static_cast<int>(t * hw));
    }
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(state, sh);
}

using lattice::gpu::DType;
BENCHMARK_CAPTURE(bm_im2col_openblas, wan, kWanLike)->Name("conv3d/f32/1x128x4x64x64_k3_to128/im2col-openblas")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, wan, kWanLike, DType::F32)->Name("conv3d/f32/1x128x4x64x64_k3_to128/vulkan")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(bm_vulkan, wanf16, kWanLike, DType::F16)->Name("conv3d/f16/1x128x4x64x64_k3_to128/vulkan")->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
