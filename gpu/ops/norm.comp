#version 450
#extension GL_GOOGLE_include_directive : require
// LayerNorm (x - mean) / sqrt(var + eps) and RMSNorm x / sqrt(mean(x^2) + eps) over the last dimension,
// each with optional per-column weight (and bias for LayerNorm). One invocation per row, no shared memory
// (see softmax.comp for why); the statistics are row_norm.glsl's.
// Compiled twice (gpu/CMakeLists.txt): portable, one value per load from storage buffers; and with ROW_TEXEL
// for CPU devices, where rows are read as RGBA32F texels (4 values a fetch) and written as vec4: llvmpipe
// loads and stores a storage buffer at per-lane addresses one lane and one value at a time, each behind a
// branch, and gathers a texel fetch for all lanes at once.
#include "norm_infos.h"
layout(local_size_x = NORM_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint MODE = NORM_LAYER;
layout(constant_id = 1) const uint HAS_WEIGHT = 0;
layout(constant_id = 2) const uint HAS_BIAS = 0;
#ifdef ROW_TEXEL
layout(binding = 0) uniform samplerBuffer x;
layout(binding = 1) uniform samplerBuffer weight;
layout(binding = 2) uniform samplerBuffer bias;
layout(std430, binding = 3) writeonly buffer OutBuf { vec4 y[]; };
#else
layout(std430, binding = 0) readonly buffer InBuf { float x[]; };
layout(std430, binding = 1) readonly buffer WeightBuf { float weight[]; };
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 3) writeonly buffer OutBuf { float y[]; };
#endif
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
