#version 450
#extension GL_GOOGLE_include_directive : require
// OUT[i] = clamp(f(scale * IN[in_offset + i]), lo, hi): the activation functions of transformer MLPs, exp, and
// their bounds (a VAE's clamped log-variance: f the identity).
#include "unary_infos.h"
layout(local_size_x = UNARY_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint FN = LATTICE_ACT_NONE;
layout(std430, binding = 0) readonly buffer InBuf { float x_in[]; };
layout(std430, binding = 1) writeonly buffer OutBuf { float y_out[]; };

#include "activation.glsl"

void main() {
  uint i = lattice_flat_index();
  if (i >= pc.numel) return;
  float y = lattice_activate(FN, pc.scale * x_in[pc.in_offset + i]);
  // GLSL's clamp of a NaN is undefined; torch.clamp keeps it, and so does the explicit test. With lo = -inf and
  // hi = +inf every other value passes unchanged, so the bounds cost an activation nothing in accuracy.
  y_out[i] = isnan(y) ? y : clamp(y, pc.lo, pc.hi);
}
