#pragma once
// What the benchmarks share. process_cpu_seconds: the CPU time of the whole process, every thread of it, which
// on lavapipe includes the device's worker threads, so a rate per CPU-second moves much less than wall time when
// other processes load the shared machine; one clock for every bench (CLOCK_PROCESS_CPUTIME_ID), so their
// per-CPU-second figures compare.
#include <time.h>

namespace lattice::bench {

/// CPU seconds the process has used so far (user + system, all threads).
inline double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

}  // namespace lattice::bench
