#version 450
#extension GL_GOOGLE_include_directive : require
// C = A * B^T + bias reading A and B through uniform texel buffers, 4 k per texel, with a TM x TN tile of
// accumulators per invocation and no shared memory. Written for llvmpipe (lavapipe), which runs an
// invocation group as 8-wide SIMD lanes: storage-buffer loads there go one lane at a time, texel fetches
// take a faster path, and barriers/shared memory are costly. Compiled twice (gpu/CMakeLists.txt):
// B_IS_F32 defined -> B is RGBA32F; otherwise B is RGBA16UI holding f16 or bf16 bits per B_TYPE.
#include "matmul_infos.h"
layout(local_size_x = MATMUL_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint B_TYPE = MATMUL_B_F32;
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(binding = 0) uniform samplerBuffer a_texels;
#ifdef B_IS_F32
layout(binding = 1) uniform samplerBuffer b_texels;
vec4 load_b(int t) { return texelFetch(b_texels, t); }
#else
layout(binding = 1) uniform usamplerBuffer b_texels;
vec4 load_b(int t) {
  uvec4 h = texelFetch(b_texels, t);
  if (B_TYPE == MATMUL_B_F16) return vec4(unpackHalf2x16(h.x | (h.y << 16)), unpackHalf2x16(h.z | (h.w << 16)));
  return uintBitsToFloat(h << 16);
}
#endif
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 3) writeonly buffer CBuf { float c[]; };

#define TM MATMUL_TEXEL_TM
#define TN MATMUL_TEXEL_TN

void main() {
  uint tiles_n = (pc.n + TN - 1) / TN;
  uint tile = lattice_flat_index();
  uint m0 = (tile / tiles_n) * TM, n0 = (tile % tiles_n) * TN;
  if (m0 >= pc.m) return;
  int k4 = int(pc.k / 4);
  int arow[TM], brow[TN];
  for (int i = 0; i < TM; ++i) arow[i] = int(pc.a_offset / 4 + min(m0 + i, pc.m - 1) * pc.k / 4);
  for (int j = 0; j < TN; ++j) brow[j] = int(pc.b_offset / 4 + min(n0 + j, pc.n - 1) * pc.k / 4);
  vec4 acc[TM * TN];
  for (int t = 0; t < TM * TN; ++t) acc[t] = vec4(0.0);
  for (int kk = 0; kk < k4; ++kk) {
    vec4 av[TM];
    for (int i = 0; i < TM; ++i) av[i] = texelFetch(a_texels, arow[i] + kk);
    for (int j = 0; j < TN; ++j) {
      vec4 bv = load_b(brow[j] + kk);
      // vec4 accumulators: 4 independent chains keep the multiply-adds from waiting on each other.
      for (int i = 0; i < TM; ++i) acc[i * TN + j] += av[i] * bv;
    }
  }
  for (uint i = 0; i < TM && m0 + i < pc.m; ++i)
    for (uint j = 0; j < TN && n0 + j < pc.n; ++j) {
      vec4 v = acc[i * TN + j];
      c[pc.c_offset + (m0 + i) * pc.n + n0 + j] =
          (v.x + v.y) + (v.z + v.w) + (HAS_BIAS != 0u ? bias[pc.bias_offset + n0 + j] : 0.0);
    }
}
