#version 450
#extension GL_GOOGLE_include_directive : require
// OUT[i] = f(IN[in_offset + i]) for the activation functions of transformer MLPs.
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
  y_out[i] = lattice_activate(FN, x_in[pc.in_offset + i]);
}
