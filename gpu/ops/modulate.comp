#version 450
#extension GL_GOOGLE_include_directive : require
// The two per-channel affine steps of every DiT block in one pass each: adaLN modulation
// x*(1+scale)+shift, and the gated residual x + gate*y. Fused because through binary ops they would
// take three and two passes over [B, L, C].
// Compiled twice (gpu/CMakeLists.txt): portable, one element per invocation from storage buffers; and with
// MODULATE_TEXEL for CPU devices, four consecutive channels per invocation read as RGBA32F texels and
// written as one vec4. llvmpipe loads or stores a storage buffer at per-lane addresses one lane and one
// component at a time, each behind a branch, while a texel fetch gathers the lanes without branches: four
// channels per fetch quarter the fetches and the stores.
#include "modulate_infos.h"
layout(local_size_x = MODULATE_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint FN = MODULATE_SHIFT_SCALE;
#ifdef MODULATE_TEXEL
layout(binding = 0) uniform samplerBuffer xs;
layout(binding = 1) uniform samplerBuffer ps;
layout(binding = 2) uniform samplerBuffer qs;
layout(std430, binding = 3) writeonly buffer OutBuf { vec4 o[]; };
#define VALUE vec4
// Element offsets are multiples of 4 (modulate.cpp checks), so four channels are one texel.
#define LOAD(buf, e) texelFetch(buf, int((e) / 4u))
#define STEP 4u
#elif defined(MODULATE_VEC4)
layout(std430, binding = 0) readonly buffer XBuf { vec4 xs[]; };
layout(std430, binding = 1) readonly buffer PBuf { vec4 ps[]; };
layout(std430, binding = 2) readonly buffer QBuf { vec4 qs[]; };
layout(std430, binding = 3) writeonly buffer OutBuf { vec4 o[]; };
#define VALUE vec4
#define LOAD(buf, e) buf[(e) / 4u]
#define STEP 4u
#else
layout(std430, binding = 0) readonly buffer XBuf { float xs[]; };
layout(std430, binding = 1) readonly buffer PBuf { float ps[]; };
layout(std430, binding = 2) readonly buffer QBuf { float qs[]; };
layout(std430, binding = 3) writeonly buffer OutBuf { float o[]; };
#define VALUE float
#define LOAD(buf, e) buf[e]
#define STEP 1u
#endif

uint at(uint v[4], uvec3 blc) { return v[0] + blc.x * v[1] + blc.y * v[2] + blc.z * v[3]; }

#ifdef MODULATE_TEXEL
// Row-wise (grid_rows): a workgroup row per token (b, l), x walking its channel quads, so the token's
// indices are workgroup-uniform: its divisions are of uniform values, none per channel.
void main() {
  uint row = lattice_row_index(), c = 4u * (gl_WorkGroupID.x * MODULATE_LOCAL_SIZE + gl_LocalInvocationID.x);
  if (row >= pc.numel / pc.c || c >= pc.c) return;
  uvec3 blc = uvec3(row / pc.l, row % pc.l, c);
  uint i = (row * pc.c + c) / 4u;
#else
void main() {
  uint i = lattice_flat_index();
  if (i >= pc.numel / STEP) return;
  uint e = i * STEP;
  uvec3 blc = uvec3(e / (pc.l * pc.c), (e / pc.c) % pc.l, e % pc.c);
#endif
  VALUE x = LOAD(xs, at(pc.x, blc)), p = LOAD(ps, at(pc.p, blc)), q = LOAD(qs, at(pc.q, blc));
  // Rounded like PyTorch's separate ops (no fma contraction): x*(1+scale) then +shift; gate*y then +x.
  precise VALUE r;
  if (FN == MODULATE_SHIFT_SCALE) r = x * (1.0 + p) + q;
  else r = x + p * q;
  o[i] = r;
}
