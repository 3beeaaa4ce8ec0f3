// elementwise/<op>/<L>x<C>/<variant>: the elementwise kernels of a DiT block at FLUX sizes (one image of
// 1024x1024 has 4096 tokens; the small forward of flux_dit_bench 1280 x 3072). Each variant of an op (gpu/variant.h,
// forced through gpu::set_kernel_override for the run) is measured in the same process, so the portable variant is
// the baseline. The figure is GB of tensor traffic (each [L, C] tensor read or written counts once; the
// [C] modulation vectors and the [L, W] RoPE tables are left out) per CPU-second of the process over the
// submit + wait of one recorded dispatch (recording excluded): on lavapipe the device's work is the process's
// own threads, and CPU time moves less than wall time when other processes load the machine.
#include <benchmark/benchmark.h>
#include <functional>
#include <string>
#include <vector>

#include "bench/support.h"
#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/modulate.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/rope.h"
#include "gpu/variant.h"

namespace {

using lattice::bench::process_cpu_seconds;
using lattice::bench::random_values;
using lattice::gpu::CommandStream;
using lattice::gpu::Tensor;
using lattice::gpu::set_kernel_override;

constexpr int64_t kTokens = 1280, kChannels = 3072, kHeadDim = 128;

// Runs `record` (one op recorded on the stream) with `op`'s variant forced (gpu/variant.h); `tensors` counts the
// [L, C] tensors it reads and writes.
void bm_op(benchmark::State& state, const char* op, const char* variant, int tensors,
           const std::function<Tensor(CommandStream&)>& record) {
  set_kernel_override(op, variant);
  CommandStream s(lattice::bench::op_bench_context());
  try {
    Tensor warm = record(s);  // pipeline creation and llvmpipe's compilation, untimed
    s.finish();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    set_kernel_override(op, "");
    return;
  }
  double cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Tensor out = record(s);
    const double c0 = process_cpu_seconds();
    state.ResumeTiming();
    s.finish();
    cpu += process_cpu_seconds() - c0;
  }
  set_kernel_override(op, "");
  const double bytes = 4.0 * double(kTokens * kChannels) * tensors;
  state.counters["GB_per_cpu_s"] = 1e-9 * bytes * double(state.iterations()) / cpu;
  state.counters["bytes_per_second"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

struct Inputs {
  Tensor x, emb, cos, sin;
};

const Inputs& inputs() {
  static const Inputs in = [] {
    auto& ctx = lattice::bench::op_bench_context();
    Inputs r;
    r.x = Tensor::from_floats(ctx, random_values(size_t(kTokens * kChannels), 1), {1, kTokens, kChannels});
    // [1, 6C] as the FLUX block's modulation projection; shift and scale are its chunks 0 and 1.
    r.emb = Tensor::from_floats(ctx, random_values(size_t(6 * kChannels), 2), {1, 6 * kChannels});
    r.cos = Tensor::from_floats(ctx, random_values(size_t(kTokens * kHeadDim), 3), {kTokens, kHeadDim});
    r.sin = Tensor::from_floats(ctx, random_values(size_t(kTokens * kHeadDim), 4), {kTokens, kHeadDim});
    return r;
  }();
  return in;
}

Tensor chunk(const Tensor& emb, int64_t i) { return emb.view({1, kChannels}, {6 * kChannels, 1}, emb.offset() + i * kChannels); }

const int registered = [] {
  const std::string size = "/" + std::to_string(kTokens) + "x" + std::to_string(kChannels) + "/";
  for (const char* v : {"portable", "vec4", "texel"}) {
    benchmark::RegisterBenchmark(("elementwise/modulate" + size + v).c_str(), [v](benchmark::State& st) {
      bm_op(st, "modulate", v, 2, [](CommandStream& s) {
        const Inputs& in = inputs();
        return lattice::gpu::modulate(s, in.x, chunk(in.emb, 0), chunk(in.emb, 1));
      });
    })->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  for (const char* v : {"portable", "texel"}) {
    // Reads x three times (mean, variance, output), writes once.
    benchmark::RegisterBenchmark(("elementwise/layer_norm" + size + v).c_str(), [v](benchmark::State& st) {
      bm_op(st, "norm", v, 4, [](CommandStream& s) { return lattice::gpu::layer_norm(s, inputs().x, 1e-6f); });
    })->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  for (const char* v : {"portable", "texel"}) {
    // The DiT pre-norm: layer_norm then modulate (reads x 3 + 1 times, writes twice), and fused (3 + 1).
    benchmark::RegisterBenchmark(("elementwise/layer_norm+modulate" + size + v).c_str(), [v](benchmark::State& st) {
      set_kernel_override("norm", v);
      bm_op(st, "modulate", v, 4, [](CommandStream& s) {
        const Inputs& in = inputs();
        return lattice::gpu::modulate(s, lattice::gpu::layer_norm(s, in.x, 1e-6f), chunk(in.emb, 0), chunk(in.emb, 1));
      });
      set_kernel_override("norm", "");
    })->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("elementwise/norm_modulate" + size + v).c_str(), [v](benchmark::State& st) {
      bm_op(st, "norm_modulate", v, 4, [](CommandStream& s) {
        const Inputs& in = inputs();
        return lattice::gpu::norm_modulate(s, in.x, lattice::gpu::RowNorm::Layer, 1e-6f, chunk(in.emb, 0), chunk(in.emb, 1));
      });
    })->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  for (const char* v : {"portable", "texel"}) {
    benchmark::RegisterBenchmark(("elementwise/rope" + size + v).c_str(), [v](benchmark::State& st) {
      bm_op(st, "rope", v, 2, [](CommandStream& s) {
        const Inputs& in = inputs();
        return lattice::gpu::rope(s, in.x, in.cos, in.sin);
      });
    })->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  for (const char* v : {"portable", "texel"}) {
    // A residual add of two [L, C] tensors (Wan's cross-attention, LTX's): reads two, writes one.
    benchmark::RegisterBenchmark(("elementwise/add" + size + v).c_str(), [v](benchmark::State& st) {
      bm_op(st, "binary", v, 3, [](CommandStream& s) { return lattice::gpu::add(s, inputs().x, inputs().x); });
    })->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  for (const char* v : {"portable", "texel"}) {
    // The attention heads' rearrangement [1, L, H, D] -> [1, H, L, D] (contiguous): reads one, writes one.
    benchmark::RegisterBenchmark(("elementwise/permute" + size + v).c_str(), [v](benchmark::State& st) {
      bm_op(st, "copy", v, 2, [](CommandStream& s) {
        const Tensor heads = inputs().x.reshape({1, kTokens, kChannels / kHeadDim, kHeadDim});
        return lattice::gpu::contiguous(s, lattice::gpu::permute(heads, std::vector<int>{0, 2, 1, 3}));
      });
    })->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return 0;
}();

}  // namespace
