#version 450
#extension GL_GOOGLE_include_directive : require
// OUT[i] = A[...] op B[...] with NumPy broadcasting folded into the strides.
#include "binary_infos.h"
layout(local_size_x = BINARY_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint OP = BINARY_ADD;
layout(std430, binding = 0) readonly buffer ABuf { float a[]; };
layout(std430, binding = 1) readonly buffer BBuf { float b[]; };
layout(std430, binding = 2) writeonly buffer OutBuf { float o[]; };

void main() {
  uint i = lattice_flat_index();
  if (i >= pc.numel) return;
  uint rest = i, ai = pc.a_offset, bi = pc.b_offset;
  for (int d = int(pc.rank) - 1; d >= 0; --d) {
    uint c = rest % pc.shape[d];
    rest /= pc.shape[d];
    ai += c * pc.a_strides[d];
    bi += c * pc.b_strides[d];
  }
  float x = a[ai], y = b[bi];
  float r;
  if (OP == BINARY_ADD) r = x + y;
  else if (OP == BINARY_SUB) r = x - y;
  else if (OP == BINARY_MUL) r = x * y;
  else r = x / y;
  o[i] = r;
}
