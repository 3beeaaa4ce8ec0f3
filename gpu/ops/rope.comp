#version 450
#extension GL_GOOGLE_include_directive : require
// Rotary position embedding from precomputed per-token cos/sin tables (the model computes the angles, in
// float64 where its reference does). One invocation rotates one pair, so any width and pairing costs the
// same and every value is read once.
#include "rope_infos.h"
layout(local_size_x = ROPE_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint PAIRING = ROPE_INTERLEAVED;
layout(std430, binding = 0) readonly buffer InBuf { float x[]; };
layout(std430, binding = 1) readonly buffer CosBuf { float cos_t[]; };
layout(std430, binding = 2) readonly buffer SinBuf { float sin_t[]; };
layout(std430, binding = 3) writeonly buffer OutBuf { float y[]; };

void main() {
  uint p = lattice_flat_index();
  if (p >= pc.pairs) return;
  uint half_c = pc.channels / 2, half_w = pc.width / 2;
  uint row = p / half_c, k = p % half_c;
  uint chunk = k / half_w, kk = k % half_w;
  uint t0 = PAIRING == ROPE_INTERLEAVED ? 2u * kk : kk;  // table columns of the pair
  uint t1 = PAIRING == ROPE_INTERLEAVED ? t0 + 1u : kk + half_w;
  uint c0 = row * pc.channels + chunk * pc.width + t0, c1 = c0 + (t1 - t0);
  uint tab = (row % pc.seq) * pc.width;
  float x0 = x[pc.x_offset + c0], x1 = x[pc.x_offset + c1];
  y[c0] = x0 * cos_t[pc.cos_offset + tab + t0] - x1 * sin_t[pc.sin_offset + tab + t0];
  y[c1] = x1 * cos_t[pc.cos_offset + tab + t1] + x0 * sin_t[pc.sin_offset + tab + t1];
}
