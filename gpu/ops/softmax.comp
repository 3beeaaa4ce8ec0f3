#version 450
#extension GL_GOOGLE_include_directive : require
// Numerically stable softmax over the last dimension: one invocation walks one row three times (max,
// sum of exp(x - max), write). No shared memory or barriers: on lavapipe those cost more than the serial
// loop, and models have thousands of rows (tokens x heads), which is enough parallelism.
// SOFTMAX_ROWS4 (softmax_infos.h): in place, scaled and masked, a texel (vec4) per load and store, exp once
// per element (pass 2 stores exp(x - max), pass 3 scales it): llvmpipe loads and stores per lane one lane at
// a time, so a vec4 access is a quarter of the loops of four float ones.
#include "softmax_infos.h"
layout(local_size_x = SOFTMAX_LOCAL_SIZE) in;
#include "common.glsl"

#ifdef SOFTMAX_ROWS4
layout(constant_id = 0) const uint HAS_MASK = 0;
layout(std430, binding = 0) buffer XBuf { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer MaskBuf { float mask[]; };

const float NEG_INF = -1.0 / 0.0;

// scale * x + mask of texel t of a row, components past n -inf.
vec4 logits(uint base, uint t) {
  vec4 v = x4[base + t] * pc.scale;
  uint j = 4u * t;
  if (HAS_MASK != 0u)
    v += vec4(mask[pc.mask_offset + min(j, pc.n - 1u)], mask[pc.mask_offset + min(j + 1u, pc.n - 1u)],
              mask[pc.mask_offset + min(j + 2u, pc.n - 1u)], mask[pc.mask_offset + min(j + 3u, pc.n - 1u)]);
  return mix(v, vec4(NEG_INF), greaterThanEqual(uvec4(j) + uvec4(0u, 1u, 2u, 3u), uvec4(pc.n)));
}

void main() {
  uint r = lattice_flat_index();
  if (r >= pc.rows) return;
  uint base = (pc.in_offset + r * pc.ld) / 4u, texels = (pc.n + 3u) / 4u;
  float m = NEG_INF;
  for (uint t = 0; t < texels; ++t) {
    vec4 v = logits(base, t);
    m = max(m, max(max(v.x, v.y), max(v.z, v.w)));
  }
  // A row of -inf (fully masked) would give exp(-inf - -inf) = NaN; such rows come out as zeros.
  float shift = isinf(m) && m < 0.0 ? 0.0 : m;
  float sum = 0.0;
  for (uint t = 0; t < texels; ++t) {
    vec4 e = exp(logits(base, t) - shift);
    sum += (e.x + e.y) + (e.z + e.w);
    x4[base + t] = e;
  }
  float inv = sum > 0.0 ? 1.0 / sum : 0.0;
  for (uint t = 0; t < texels; ++t) x4[base + t] *= inv;
  for (uint t = texels; t < pc.width / 4u; ++t) x4[base + t] = vec4(0.0);
}
#else
layout(std430, binding = 0) readonly buffer InBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer OutBuf { float y[]; };

void main() {
  uint r = lattice_flat_index();
  if (r >= pc.rows) return;
  uint base = pc.in_offset + r * pc.n, out_base = r * pc.n;
  float m = -1.0 / 0.0;
  for (uint j = 0; j < pc.n; ++j) m = max(m, x[base + j]);
  // A row of -inf (fully masked) would give exp(-inf - -inf) = NaN; such rows come out as zeros.
  float shift = isinf(m) && m < 0.0 ? 0.0 : m;
  float sum = 0.0;
  for (uint j = 0; j < pc.n; ++j) sum += exp(x[base + j] - shift);
  float inv = sum > 0.0 ? 1.0 / sum : 0.0;
  for (uint j = 0; j < pc.n; ++j) y[out_base + j] = exp(x[base + j] - shift) * inv;
}
#endif
