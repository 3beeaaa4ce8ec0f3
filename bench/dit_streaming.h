#pragma once
// Shared pieces of the DiT benchmarks (flux_, wan_, ltx_dit_bench.cpp): a device with a given budget, the budget
// that makes a model's BlockStreamer plan a given number of slots with no block resident, and the counters
// a streamed run reports (process CPU time, bytes uploaded per forward, the plan).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "bench/support.h"
#include "nodes/gpu_service.h"
#include "nodes/models/block_streamer.h"

namespace lattice::bench {

// `gpu`'s device, started with a budget of `budget_mib` (0: the device's default).
inline gpu::Context& context_with_budget(GpuService& gpu, uint64_t budget_mib) {
  if (budget_mib == 0) return gpu.context();
  const char* before = std::getenv("LATTICE_GPU_BUDGET_MB");
  const std::string saved = before ? before : "";
  setenv("LATTICE_GPU_BUDGET_MB", std::to_string(budget_mib).c_str(), 1);
  gpu::Context& ctx = gpu.context();
  if (before) setenv("LATTICE_GPU_BUDGET_MB", saved.c_str(), 1);
  else unsetenv("LATTICE_GPU_BUDGET_MB");
  return ctx;
}

// The budget in MiB for `slots` slots of the largest block and no resident block, beside `fixed` bytes (what
// the resident model holds beside its blocks, plus one forward's activations); 0 (the default budget, every
// block resident) for slots 0. The MiB rounding stays below one more block, so plan_block_streaming keeps
// none resident, and below a second slot where slots is 1.
inline uint64_t streaming_budget_mib(uint64_t fixed, const std::vector<uint64_t>& blocks, int slots) {
  if (slots == 0 || blocks.empty()) return 0;
  const uint64_t largest = *std::max_element(blocks.begin(), blocks.end());
  return (fixed + static_cast<uint64_t>(slots) * largest + (1 << 20) - 1) >> 20;
}

// Times state's iterations of `forward` (one forward each) and reports, per forward: process CPU seconds,
// MiB uploaded into slots and host upload time; the plan (resident blocks, slots) and the budget.
template <class Forward>
void run_streamed(benchmark::State& state, const BlockStreamStats& stats, uint64_t budget_mib, Forward&& forward) {
  const uint64_t streamed_before = stats.streamed_bytes;
  const double upload_before = stats.upload_seconds;
  double cpu = 0;
  for (auto _ : state) {
    const double c0 = process_cpu_seconds();
    forward();
    cpu += process_cpu_seconds() - c0;
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["budget_MiB"] = static_cast<double>(budget_mib);
  state.counters["resident_blocks"] = stats.plan.resident;
  state.counters["slots"] = stats.plan.slots;
  state.counters["cpu_s_per_forward"] = cpu / n;
  state.counters["upload_ms_per_forward"] = (stats.upload_seconds - upload_before) * 1000.0 / n;
  state.counters["streamed_MiB_per_forward"] = static_cast<double>(stats.streamed_bytes - streamed_before) / (1 << 20) / n;
}

// A streamed-forward benchmark's body: state.range(0) slots (0: every block resident). `Small` is the model
// on a fresh device of a given budget (Small(budget_mib), with members ctx, model and forward()); the
// budget comes from a probe on a default device: what it holds beside its blocks, plus
// `activations(probe)` (one forward's), and `blocks(probe)` (each block's device bytes).
template <class Small, class Activations, class Blocks>
void streamed_forward(benchmark::State& state, Activations&& activations, Blocks&& blocks) {
  const int slots = static_cast<int>(state.range(0));
  uint64_t budget_mib = 0;
  if (slots > 0) {
    Small probe(0);
    probe.forward();
    const uint64_t fixed =
        probe.ctx.allocator().current_device_bytes() - probe.model.stream_stats().plan.resident_bytes + activations(probe);
    budget_mib = streaming_budget_mib(fixed, blocks(probe), slots);
  }
  Small m(budget_mib);
  m.forward();  // warm-up: plans, uploads the resident blocks, compiles the shaders
  run_streamed(state, m.model.stream_stats(), budget_mib, [&] { m.forward(); });
}

}  // namespace lattice::bench
