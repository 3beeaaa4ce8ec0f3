#version 450
#extension GL_GOOGLE_include_directive : require
// Seeded standard-normal noise; bit-identical to normal_noise_cpu() (see noise_math.h).
#include "noise_infos.h"
layout(local_size_x = NOISE_LOCAL_SIZE) in;
#include "common.glsl"
#include "noise_math.h"

layout(std430, binding = 0) writeonly buffer OutBuf { float o[]; };

void main() {
  uint block = lattice_flat_index();
  uint first = block * 4u;
  if (first >= pc.numel) return;
  uint lo = pc.offset_lo + block;
  uint hi = pc.offset_hi + (lo < block ? 1u : 0u);  // 64-bit counter add
  uvec4 x = philox4x32_10(uvec4(lo, hi, 0u, 0u), pc.seed_lo, pc.seed_hi);
  vec2 z01 = box_muller(x.x, x.y);
  vec2 z23 = box_muller(x.z, x.w);
  float z[4] = float[4](z01.x, z01.y, z23.x, z23.y);
  for (uint j = 0u; j < 4u && first + j < pc.numel; ++j) o[pc.out_offset + first + j] = z[j];
}
