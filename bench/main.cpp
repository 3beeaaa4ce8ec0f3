// lattice-bench entry point: Google Benchmark's main.
#include <benchmark/benchmark.h>
BENCHMARK_MAIN();
