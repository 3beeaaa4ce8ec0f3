#version 450
#extension GL_GOOGLE_include_directive : require
// The two per-channel affine steps of every DiT block in one pass each: adaLN modulation
// x*(1+scale)+shift, and the gated residual x + gate*y. Fused because through binary ops they would
// take three and two passes over [B, L, C].
// Compiled three times (gpu/CMakeLists.txt, texel_io.glsl): portable, one element per invocation from storage
// buffers; TEXEL_IO for CPU devices, four consecutive channels per invocation read as RGBA32F texels and
// written as one vec4 (a texel fetch gathers the lanes without branches: four channels per fetch quarter the
// fetches and the stores); and TEXEL_IO_VEC4, four channels per invocation from vec4 storage buffers.
#include "modulate_infos.h"
layout(local_size_x = MODULATE_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint FN = MODULATE_SHIFT_SCALE;
// Element offsets are multiples of 4 with TEXEL_IO and TEXEL_IO_VEC4 (modulate.cpp checks).
#include "texel_io.glsl"
TEXEL_INPUT(0, xs);
TEXEL_INPUT(1, ps);
TEXEL_INPUT(2, qs);
TEXEL_OUTPUT(3, o);

uint at(uint v[4], uvec3 blc) { return v[0] + blc.x * v[1] + blc.y * v[2] + blc.z * v[3]; }

#ifdef TEXEL_IO
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
