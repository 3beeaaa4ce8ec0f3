#version 450
#extension GL_GOOGLE_include_directive : require
// Constant and replicate padding in one gather pass; the mode is per dimension so LTX's causal convs
// (replicate the first frame in time, zeros in space) pad in a single dispatch.
#include "pad_infos.h"
layout(local_size_x = PAD_LOCAL_SIZE) in;
#include "common.glsl"

layout(std430, binding = 0) readonly buffer InBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer OutBuf { float o[]; };

void main() {
  uint i = lattice_flat_index();
  if (i >= pc.numel) return;
  uint rest = i, at = pc.in_offset;
  bool outside = false;
  for (int d = int(pc.rank) - 1; d >= 0; --d) {
    int c = int(rest % pc.out_shape[d]) - int(pc.before[d]);
    rest /= pc.out_shape[d];
    if (c < 0 || c >= int(pc.in_shape[d])) {
      if ((pc.replicate_mask & (1u << uint(d))) == 0u) outside = true;
      c = clamp(c, 0, int(pc.in_shape[d]) - 1);
    }
    at += uint(c) * pc.in_strides[d];
  }
  if (outside) o[i] = pc.value;  // no read: the input may be empty
  else o[i] = x[at];
}
