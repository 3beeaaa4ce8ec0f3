#version 450
#extension GL_GOOGLE_include_directive : require
// LayerNorm (x - mean) / sqrt(var + eps) and RMSNorm x / sqrt(mean(x^2) + eps) over the last dimension,
// each with optional per-column weight (and bias for LayerNorm). One invocation per row, no shared memory
// (see softmax.comp for why); the statistics are row_norm.glsl's.
// Compiled twice (gpu/CMakeLists.txt): portable, one value per load from storage buffers; and with TEXEL_IO
// for CPU devices, where rows are read as RGBA32F texels (4 values a fetch) and written as vec4 (texel_io.glsl).
#include "norm_infos.h"
layout(local_size_x = NORM_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint MODE = NORM_LAYER;
layout(constant_id = 1) const uint HAS_WEIGHT = 0;
layout(constant_id = 2) const uint HAS_BIAS = 0;
#include "texel_io.glsl"
TEXEL_INPUT(0, x);
TEXEL_INPUT(1, weight);
TEXEL_INPUT(2, bias);
TEXEL_OUTPUT(3, y);
#include "row_norm.glsl"

void main() {
  uint r = lattice_flat_index();
  if (r >= pc.rows) return;
  uint base = pc.in_offset + r * pc.n, out_base = pc.out_offset + r * pc.n;
  float mean, inv;
  row_norm_stats(base, pc.n, MODE == NORM_LAYER, pc.eps, mean, inv);
  for (uint j = 0; j < pc.n; j += STEP) {
    VALUE v = (LOAD(x, base + j) - mean) * inv;
    if (HAS_WEIGHT != 0u) v *= LOAD(weight, pc.weight_offset + j);
    if (HAS_BIAS != 0u) v += LOAD(bias, pc.bias_offset + j);
    y[(out_base + j) / STEP] = v;
  }
}
