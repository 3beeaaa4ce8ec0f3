#version 450
#extension GL_GOOGLE_include_directive : require
// The two per-channel affine steps of every DiT block in one pass each: adaLN modulation
// x*(1+scale)+shift, and the gated residual x + gate*y. Fused because through binary ops they would
// take three and two passes over [B, L, C].
#include "modulate_infos.h"
layout(local_size_x = MODULATE_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint FN = MODULATE_SHIFT_SCALE;
layout(std430, binding = 0) readonly buffer XBuf { float xs[]; };
layout(std430, binding = 1) readonly buffer PBuf { float ps[]; };
layout(std430, binding = 2) readonly buffer QBuf { float qs[]; };
layout(std430, binding = 3) writeonly buffer OutBuf { float o[]; };

uint at(uint v[4], uvec3 blc) { return v[0] + blc.x * v[1] + blc.y * v[2] + blc.z * v[3]; }

void main() {
  uint i = lattice_flat_index();
  if (i >= pc.numel) return;
  uvec3 blc = uvec3(i / (pc.l * pc.c), (i / pc.c) % pc.l, i % pc.c);
  float x = xs[at(pc.x, blc)], p = ps[at(pc.p, blc)], q = qs[at(pc.q, blc)];
  // Rounded like PyTorch's separate ops (no fma contraction): x*(1+scale) then +shift; gate*y then +x.
  precise float r;
  if (FN == MODULATE_SHIFT_SCALE) r = x * (1.0 + p) + q;
  else r = x + p * q;
  o[i] = r;
}
