// dispatch/<op>/<n>: the runtime's cost per dispatch, not the kernels'. Records n small dispatches of one
// elementwise op on [16, 64] f32 tensors (each reads the previous result, so none can be skipped), submits and
// waits; the figure is dispatches per CPU-second of the process over recording + submit + wait. The ops take
// their automatic variant, which on CPU devices is "texel" (each operand a uniform texel buffer view), so this
// covers the per-dispatch host work an op and the command stream do: variant choice, format support, buffer
// views, descriptor pushes, the output's allocation. Compare runs of two builds in the same minutes.
#include <benchmark/benchmark.h>

#include <functional>
#include <string>

#include "bench/support.h"
#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/modulate.h"
#include "gpu/ops/norm.h"

namespace {

using lattice::bench::process_cpu_seconds;
using lattice::bench::random_values;
using lattice::gpu::CommandStream;
using lattice::gpu::Tensor;

constexpr int64_t kRows = 16, kChannels = 64;

struct Small {
  Tensor x, w, b, shift, scale;
};

const Small& small() {
  static const Small s = [] {
    auto& ctx = lattice::bench::op_bench_context();
    Small r;
    r.x = Tensor::from_floats(ctx, random_values(size_t(kRows * kChannels), 1), {1, kRows, kChannels});
    r.w = Tensor::from_floats(ctx, random_values(size_t(kChannels), 2), {kChannels});
    r.b = Tensor::from_floats(ctx, random_values(size_t(kChannels), 3), {kChannels});
    r.shift = Tensor::from_floats(ctx, random_values(size_t(kChannels), 4), {1, kChannels});
    r.scale = Tensor::from_floats(ctx, random_values(size_t(kChannels), 5), {1, kChannels});
    return r;
  }();
  return s;
}

// `step` records one dispatch reading `y` and returns its result.
void bm_dispatches(benchmark::State& state, const std::function<Tensor(CommandStream&, const Tensor&)>& step) {
  const int64_t n = state.range(0);
  CommandStream s(lattice::bench::op_bench_context());
  Tensor warm = step(s, small().x);  // pipeline creation and llvmpipe's compilation, untimed
  s.finish();
  double cpu = 0;
  for (auto _ : state) {
    const double c0 = process_cpu_seconds();
    Tensor y = small().x;
    for (int64_t i = 0; i < n; ++i) y = step(s, y);
    s.finish();
    cpu += process_cpu_seconds() - c0;
  }
  state.counters["dispatches_per_cpu_s"] = double(n) * double(state.iterations()) / cpu;
  state.counters["us_cpu_per_dispatch"] = 1e6 * cpu / (double(n) * double(state.iterations()));
  state.SetItemsProcessed(n * state.iterations());
}

const int registered = [] {
  benchmark::RegisterBenchmark("dispatch/add", [](benchmark::State& st) {
    bm_dispatches(st, [](CommandStream& s, const Tensor& y) { return lattice::gpu::add(s, y, small().x); });
  })->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("dispatch/layer_norm", [](benchmark::State& st) {
    bm_dispatches(st, [](CommandStream& s, const Tensor& y) {
      return lattice::gpu::layer_norm(s, y, 1e-6f, small().w, small().b);
    });
  })->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("dispatch/modulate", [](benchmark::State& st) {
    bm_dispatches(st, [](CommandStream& s, const Tensor& y) {
      return lattice::gpu::modulate(s, y, small().shift, small().scale);
    });
  })->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
  return 0;
}();

}  // namespace
