// Row statistics of LayerNorm and RMSNorm, shared by norm.comp and norm_modulate.comp (one invocation per row).
// The includer includes texel_io.glsl and declares the row input `x` with TEXEL_INPUT first (with TEXEL_IO
// rows, offsets and n are multiples of 4); VALUE, LOAD, STEP and SUM then read 4 or 1 values at a time, so the
// same loops serve both.

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
