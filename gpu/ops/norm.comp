#version 450
#extension GL_GOOGLE_include_directive : require
// LayerNorm (x - mean) / sqrt(var + eps) and RMSNorm x / sqrt(mean(x^2) + eps) over the last dimension,
// each with optional per-column weight (and bias for LayerNorm). One invocation per row, no shared memory
// (see softmax.comp for why). The variance is taken in a second pass over (x - mean)^2 rather than as
// E[x^2] - mean^2, which cancels catastrophically for rows with a large mean.
#include "norm_infos.h"
layout(local_size_x = NORM_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint MODE = NORM_LAYER;
layout(constant_id = 1) const uint HAS_WEIGHT = 0;
layout(constant_id = 2) const uint HAS_BIAS = 0;
layout(std430, binding = 0) readonly buffer InBuf { float x[]; };
layout(std430, binding = 1) readonly buffer WeightBuf { float weight[]; };
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 3) writeonly buffer OutBuf { float y[]; };

void main() {
  uint r = lattice_flat_index();
  if (r >= pc.rows) return;
  uint base = pc.in_offset + r * pc.n, out_base = pc.out_offset + r * pc.n;
  float mean = 0.0;
  if (MODE == NORM_LAYER) {
    for (uint j = 0; j < pc.n; ++j) mean += x[base + j];
    mean /= float(pc.n);
  }
  float ss = 0.0;
  for (uint j = 0; j < pc.n; ++j) {
    float d = x[base + j] - mean;
    ss += d * d;
  }
  float inv = inversesqrt(ss / float(pc.n) + pc.eps);
  for (uint j = 0; j < pc.n; ++j) {
    float v = (x[base + j] - mean) * inv;
    if (HAS_WEIGHT != 0u) v *= weight[pc.weight_offset + j];
    if (HAS_BIAS != 0u) v += bias[pc.bias_offset + j];
    y[out_base + j] = v;
  }
}
