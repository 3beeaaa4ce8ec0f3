#version 450
#extension GL_GOOGLE_include_directive : require
// Numerically stable softmax over the last dimension: one invocation walks one row three times (max,
// sum of exp(x - max), write). No shared memory or barriers: on lavapipe those cost more than the serial
// loop, and models have thousands of rows (tokens x heads), which is enough parallelism.
#include "softmax_infos.h"
layout(local_size_x = SOFTMAX_LOCAL_SIZE) in;
#include "common.glsl"

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
