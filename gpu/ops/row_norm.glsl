// Row statistics of LayerNorm and RMSNorm, shared by norm.comp and norm_modulate.comp (one invocation per row).
// The includer declares the row buffer `x` first: with ROW_TEXEL a samplerBuffer of RGBA32F texels (rows,
// offsets and n multiples of 4: element e is texel e / 4), else a storage buffer `float x[]`. VALUE, LOAD,
// STEP and SUM then read 4 or 1 values at a time, so the same loops serve both.
#ifdef ROW_TEXEL
#define VALUE vec4
#define LOAD(buf, e) texelFetch(buf, int((e) / 4u))
#define STEP 4u
#define SUM(v) (((v).x + (v).y) + ((v).z + (v).w))
#else
#define VALUE float
#define LOAD(buf, e) buf[e]
#define STEP 1u
#define SUM(v) (v)
#endif

// Mean (0 for RMSNorm) and 1 / sqrt(var + eps) of the n values of x from `base`. The variance is taken in a
// second pass over (x - mean)^2 rather than as E[x^2] - mean^2, which cancels catastrophically for rows with
// a large mean; RMSNorm's mean square is that pass with mean 0.
void row_norm_stats(uint base, uint n, bool layer, float eps, out float mean, out float inv) {
  mean = 0.0;
  if (layer) {
    VALUE sum = VALUE(0.0);
    for (uint j = 0; j < n; j += STEP) sum += LOAD(x, base + j);
    mean = SUM(sum) / float(n);
  }
  VALUE ss = VALUE(0.0);
  for (uint j = 0; j < n; j += STEP) {
    VALUE d = LOAD(x, base + j) - mean;
    ss += d * d;
  }
  inv = inversesqrt(SUM(ss) / float(n) + eps);
}
