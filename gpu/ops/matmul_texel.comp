#version 450
#extension GL_GOOGLE_include_directive : require
// C = A * B^T + bias for CPU devices (llvmpipe/lavapipe). llvmpipe runs a workgroup as 8-wide SIMD lanes
// and compiles each load by what it can prove about the address: a load whose address is the same for
// every lane (workgroup-uniform) is one scalar load broadcast to the lanes, while a per-lane address is a
// gather, one lane at a time for storage buffers and somewhat faster through a texel fetch. So:
//  - a workgroup owns TM rows of C; all its lanes share those rows, so A is read at uniform addresses;
//  - each lane owns TN columns of C (lane, lane + LOCAL, ...) and reads those rows of B as RGBA texels,
//    4 k per fetch; B is the only gathered operand, and each gathered texel feeds TM * 4 multiply-adds;
//  - the TM x TN accumulators stay in registers; no shared memory, no barriers (both costly there);
//  - edges are clamped once before the loop (rows/columns past the end load valid data, their results
//    are not stored), so the k loop has no bounds checks.
// Workgroup ids: x (+ z * num_x) picks the row block, y the column block; x varies fastest in llvmpipe's
// dispatch order, so consecutive workgroups reuse the same B rows while they are in cache.
// Compiled once per B storage (gpu/CMakeLists.txt): B_IS_F32 -> RGBA32F texels; B_IS_H16 -> RGBA16UI
// holding f16/bf16 bits per B_TYPE; otherwise B_IS_F8 -> RGBA8UI holding fp8 bytes per B_TYPE.
#include "matmul_infos.h"
#define TM MATMUL_TEXEL_TM
#define TN MATMUL_TEXEL_TN
#define LOCAL MATMUL_TEXEL_LOCAL
layout(local_size_x = LOCAL) in;

layout(constant_id = 0) const uint B_TYPE = MATMUL_B_F32;
layout(constant_id = 1) const uint HAS_BIAS = 0;
#ifdef A_SSBO
layout(std430, binding = 0) readonly buffer ABuf { vec4 a4[]; };
vec4 load_a(int t) { return a4[t]; }
#else
layout(binding = 0) uniform samplerBuffer a_texels;
vec4 load_a(int t) { return texelFetch(a_texels, t); }
#endif
#if defined(B_IS_F32)
layout(binding = 1) uniform samplerBuffer b_texels;
vec4 load_b(int t) { return texelFetch(b_texels, t); }
#elif defined(B_IS_H16)
layout(binding = 1) uniform usamplerBuffer b_texels;
vec4 load_b(int t) {
  uvec4 h = texelFetch(b_texels, t);
  if (B_TYPE == MATMUL_B_F16) return vec4(unpackHalf2x16(h.x | (h.y << 16)), unpackHalf2x16(h.z | (h.w << 16)));
  return uintBitsToFloat(h << 16);  // bf16: the high half of an f32
}
#endif
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 3) writeonly buffer CBuf { float c[]; };

void main() {
  uint m0 = (gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * TM;
  uint n0 = gl_WorkGroupID.y * (LOCAL * TN) + gl_LocalInvocationID.x;
  if (m0 >= pc.m) return;
  uint k4 = pc.k / 4;
  int arow[TM], brow[TN];
  for (int i = 0; i < TM; ++i) arow[i] = int(pc.a_offset / 4 + min(m0 + i, pc.m - 1) * k4);
  for (int j = 0; j < TN; ++j) brow[j] = int(pc.b_offset / 4 + min(n0 + j * LOCAL, pc.n - 1) * k4);
  float acc[TM][TN];
  for (int i = 0; i < TM; ++i)
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0;
  for (int kk = 0; kk < int(k4); ++kk) {
    vec4 bv[TN];
    for (int j = 0; j < TN; ++j) bv[j] = load_b(brow[j] + kk);
    for (int i = 0; i < TM; ++i) {
      vec4 av = load_a(arow[i] + kk);
      for (int j = 0; j < TN; ++j)
        acc[i][j] = fma(av.w, bv[j].w, fma(av.z, bv[j].z, fma(av.y, bv[j].y, fma(av.x, bv[j].x, acc[i][j]))));
    }
  }
  // Constant trip counts with the edge tests inside: a data-dependent loop bound would keep acc[] an
  // indexed array, which llvmpipe places in memory with a masked store per lane.
  for (int j = 0; j < TN; ++j) {
    uint n = n0 + j * LOCAL;
    float bn = HAS_BIAS != 0u && n < pc.n ? bias[pc.bias_offset + n] : 0.0;
    for (int i = 0; i < TM; ++i)
      if (n < pc.n && m0 + i < pc.m) c[pc.c_offset + (m0 + i) * pc.n + n] = acc[i][j] + bn;
  }
}
