/* What one core of this machine does per CPU-second with 8-wide f32 vectors, fused multiply-add against a
 * separate multiply and add (what llvmpipe emits for GLSL fma): the roof for the texel matmul kernel
 * (docs/performance.md, "The texel matmul's roof, measured"). Twelve independent accumulators, so
 * neither form waits on latency; -ffp-contract=off keeps the separate form separate.
 *
 *   gcc -O2 -mavx2 -mfma -ffp-contract=off bench/cpu_fp_peak.c -o /tmp/cpu_fp_peak && /tmp/cpu_fp_peak
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double thread_cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define ACCS 12

int main(void) {
  const __m256 b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(0.9999999f);
  const long iters = 200000000;
  const double flops = (double)iters * ACCS * 8 * 2;
  for (int round = 0; round < 3; ++round) {
    __m256 a[ACCS];
    for (int i = 0; i < ACCS; ++i) a[i] = _mm256_set1_ps((float)i);
    double t0 = thread_cpu_seconds();
    for (long k = 0; k < iters; ++k) {
#pragma GCC unroll 12
      for (int i = 0; i < ACCS; ++i) a[i] = _mm256_fmadd_ps(a[i], b, c);
    }
    double t1 = thread_cpu_seconds();
    __m256 m[ACCS];
    for (int i = 0; i < ACCS; ++i) m[i] = _mm256_set1_ps((float)i);
    double t2 = thread_cpu_seconds();
    for (long k = 0; k < iters; ++k) {
#pragma GCC unroll 12
      for (int i = 0; i < ACCS; ++i) m[i] = _mm256_add_ps(_mm256_mul_ps(m[i], b), c);
    }
    double t3 = thread_cpu_seconds();
    float keep = 0; /* uses the results, so the loops are not removed */
    for (int i = 0; i < ACCS; ++i) keep += _mm256_cvtss_f32(a[i]) + _mm256_cvtss_f32(m[i]);
    printf("fma %.1f GFLOP per CPU-second, multiply + add %.1f (ratio %.2f)%s\n", flops / (t1 - t0) / 1e9,
           flops / (t3 - t2) / 1e9, (t1 - t0) / (t3 - t2), keep == 12345.f ? " " : "");
  }
  return 0;
}
