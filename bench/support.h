#pragma once
// What the benchmarks share. process_cpu_seconds: the CPU time of the whole process, every thread of it, which
// on lavapipe includes the device's worker threads, so a rate per CPU-second moves much less than wall time when
// other processes load the shared machine; one clock for every bench (CLOCK_PROCESS_CPUTIME_ID), so their
// per-CPU-second figures compare; thread_cpu_seconds the same for the calling thread alone
// (CLOCK_THREAD_CPUTIME_ID). op_bench_context, random_values: the op benches' device and inputs.
#include <time.h>

#include <cstdint>
#include <random>
#include <vector>

#include "gpu/context.h"

namespace lattice::bench {

/// Seconds on a CPU-time clock (CLOCK_PROCESS_CPUTIME_ID or CLOCK_THREAD_CPUTIME_ID).
inline double cpu_clock_seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
/// CPU seconds the process has used so far (user + system, all threads).
inline double process_cpu_seconds() { return cpu_clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }
/// CPU seconds the calling thread has used so far (user + system).
inline double thread_cpu_seconds() { return cpu_clock_seconds(CLOCK_THREAD_CPUTIME_ID); }

/// One Vulkan context for the op benches of the process, made on first use and leaked on purpose (no teardown
/// order issues at exit).
inline gpu::Context& op_bench_context() {
  static auto* ctx = new gpu::Context();
  return *ctx;
}

/// `n` values uniform in [-1, 1), the same for the same seed.
inline std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace lattice::bench
