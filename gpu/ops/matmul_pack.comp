#version 450
#extension GL_GOOGLE_include_directive : require
// Packs a strided f32 matrix view into the texel matmul's packed B order (interface: matmul_pack_infos.h).
// Packed order (matmul.h MatmulWeights): column block c (rows 128c .. 128c + w - 1 of B, w = min(128,
// n_out - 128c)) is [k_out / 4][w] texels, the blocks one after another; so texel t of block c holds step
// s = rem / w of row 128c + rem % w, rem = t - 128c * steps.
#include "matmul_pack_infos.h"
layout(local_size_x = MATMUL_PACK_LOCAL_SIZE) in;
#include "common.glsl"

layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer OutBuf { vec4 o4[]; };

const uint kColumns = MATMUL_PACK_COLUMNS;

float at(uint n, uint k) { return n < pc.n_src && k < pc.k_src ? x[pc.x_offset + n * pc.sn + k * pc.sk] : 0.0; }

void main() {
  uint t = lattice_flat_index();
  uint steps = pc.k_out / 4u;
  if (t >= pc.n_out * steps) return;
  uint block = t / (kColumns * steps), rem = t - block * kColumns * steps;
  uint width = min(kColumns, pc.n_out - block * kColumns);
  uint s = rem / width, n = block * kColumns + (rem - s * width), k = 4u * s;
  o4[pc.out_offset / 4u + t] = vec4(at(n, k), at(n, k + 1u), at(n, k + 2u), at(n, k + 3u));
}
