#version 450
#extension GL_GOOGLE_include_directive : require
// Rotary position embedding from precomputed per-token cos/sin tables (the model computes the angles, in
// float64 where its reference does). One invocation rotates one pair, so any width and pairing costs the
// same and every value is read once.
// Compiled twice (gpu/CMakeLists.txt); with TEXEL_IO (CPU devices, interleaved pairs, every width, offset
// and C a multiple of 4) one invocation rotates two adjacent pairs, reading x and the tables as RGBA32F
// texels and writing a vec4 (texel_io.glsl).
#include "rope_infos.h"
layout(local_size_x = ROPE_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint PAIRING = ROPE_INTERLEAVED;
#include "texel_io.glsl"
TEXEL_INPUT(0, x);
TEXEL_INPUT(1, cos_t);
TEXEL_INPUT(2, sin_t);
TEXEL_OUTPUT(3, y);

#ifdef TEXEL_IO

// Row-wise (grid_rows): a workgroup row per token row, x walking its channel quads (pairs (e, e + 1) and
// (e + 2, e + 3)), so the row's table offset is workgroup-uniform and a lane divides once.
void main() {
  uint row = lattice_row_index(), e = 4u * (gl_WorkGroupID.x * ROPE_LOCAL_SIZE + gl_LocalInvocationID.x);
  if (row >= 2u * pc.pairs / pc.channels || e >= pc.channels) return;
  uint t = (row % pc.seq) * pc.width + e % pc.width;  // table columns of the four channels
  uint at = row * pc.channels + e;
  vec4 v = LOAD(x, pc.x_offset + at);
  vec4 c = LOAD(cos_t, pc.cos_offset + t), s = LOAD(sin_t, pc.sin_offset + t);
  y[at / 4u] = vec4(v.x * c.x - v.y * s.x, v.y * c.y + v.x * s.y, v.z * c.z - v.w * s.z, v.w * c.w + v.z * s.w);
}
#else

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
#endif
