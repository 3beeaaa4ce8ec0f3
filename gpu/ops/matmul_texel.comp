#version 450
#extension GL_GOOGLE_include_directive : require
// C = act(A * B^T + bias) for CPU devices (llvmpipe/lavapipe). llvmpipe runs a workgroup as 8-wide SIMD lanes
// and compiles each load by what it can prove about the address: a load whose address is the same for
// every lane (workgroup-uniform) is one scalar load broadcast to the lanes, while a per-lane address is a
// gather, one lane at a time for storage buffers and somewhat faster through a texel fetch. So:
//  - a workgroup owns TM rows of C; all its lanes share those rows, so A is read at uniform addresses;
//  - each lane owns TN columns of C (lane, lane + LOCAL, ...) and reads those rows of B as 16-byte texels
//    (KS = 4 k of f32, 8 of f16/bf16, 16 of fp8 per fetch), decoded in registers;
//  - the TM x TN accumulators stay in registers; no shared memory, no barriers (both costly there);
//  - edges are clamped once before the loop (rows/columns past the end load valid data, their results
//    are not stored), so the k loop has no bounds checks.
// Workgroup ids: x (+ z * num_x) picks the row block, y the column block; x varies fastest in llvmpipe's
// dispatch order, so consecutive workgroups reuse the same B rows while they are in cache.
// Compiled once per B storage width (gpu/CMakeLists.txt): B_IS_F32 -> RGBA32F texels; B_IS_H16 or B_IS_F8
// -> RGBA32UI texels of f16/bf16 or e4m3fn/e5m2 bits, decoded per B_TYPE (matmul_decode.glsl); f32 once more
// with the tall tile (MATMUL_TEXEL_TALL_*, matmul_infos.h) for B in the plain layout.
#include "matmul_infos.h"
#define TM MATMUL_TEXEL_TM
#define TN MATMUL_TEXEL_TN
#define LOCAL MATMUL_TEXEL_LOCAL
layout(local_size_x = LOCAL) in;

layout(constant_id = 0) const uint B_TYPE = MATMUL_B_F32;
#include "matmul_decode.glsl"
#include "matmul_epilogue.glsl"
layout(binding = 0) uniform samplerBuffer a_texels;
#if defined(B_IS_F32)
#define KS 4
layout(binding = 1) uniform samplerBuffer b_texels;
void load_b(int t, out float v[KS]) {
  vec4 x = texelFetch(b_texels, t);
  v = float[KS](x.x, x.y, x.z, x.w);
}
#elif defined(B_IS_H16)
#define KS 8
layout(binding = 1) uniform usamplerBuffer b_texels;
void load_b(int t, out float v[KS]) {
  uvec4 w = texelFetch(b_texels, t);
  vec2 p0 = matmul_decode_h16x2(w.x), p1 = matmul_decode_h16x2(w.y), p2 = matmul_decode_h16x2(w.z),
       p3 = matmul_decode_h16x2(w.w);
  v = float[KS](p0.x, p0.y, p1.x, p1.y, p2.x, p2.y, p3.x, p3.y);
}
#elif defined(B_IS_F8)
#define KS 16
layout(binding = 1) uniform usamplerBuffer b_texels;
void load_b(int t, out float v[KS]) {
  uvec4 w = texelFetch(b_texels, t);
  vec4 q0 = matmul_decode_f8x4(w.x), q1 = matmul_decode_f8x4(w.y), q2 = matmul_decode_f8x4(w.z),
       q3 = matmul_decode_f8x4(w.w);
  v = float[KS](q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w, q2.x, q2.y, q2.z, q2.w, q3.x, q3.y, q3.z, q3.w);
}
#endif
#define AF (KS / 4)  // A texels per row per step
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 3) writeonly buffer CBuf { float c[]; };

void main() {
  uint m0 = (gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * TM;
  uint n0 = gl_WorkGroupID.y * (LOCAL * TN) + gl_LocalInvocationID.x;
  if (m0 >= pc.m) return;
  uint steps = pc.k / KS;
  int arow[TM], brow[TN];
  for (int i = 0; i < TM; ++i) arow[i] = int(pc.a_offset / 4 + min(m0 + i, pc.m - 1) * (pc.k / 4));
  // Texel of column n at step s: brow + s * bstep. Row-major B: row n's texels in a row (bstep 1). Packed
  // B (matmul.h MatmulWeights): this workgroup's columns c0 .. c0 + width - 1 are one block of
  // [steps][width] texels after the c0 * steps texels of the blocks before it, so a step's texels are
  // contiguous.
  uint c0 = gl_WorkGroupID.y * (LOCAL * TN);
  int bstep = pc.b_packed != 0u ? int(min(LOCAL * TN, pc.n - c0)) : 1;
  for (int j = 0; j < TN; ++j) {
    uint n = min(n0 + j * LOCAL, pc.n - 1);
    brow[j] = int(pc.b_offset / KS + (pc.b_packed != 0u ? c0 * steps + (n - c0) : n * steps));
  }
  float acc[TM][TN];
  for (int i = 0; i < TM; ++i)
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0;
  for (int s = 0; s < int(steps); ++s) {
    // Every fetch of the step first, then the multiply-adds: llvmpipe compiles a texel fetch (other than
    // RGBA8 unorm) as a function call, which spills the live accumulators; grouping the calls spills them
    // once per step instead of once per call (measured ~10% faster).
    float bv[TN][KS];
    vec4 av[TM][AF];
    for (int j = 0; j < TN; ++j) load_b(brow[j] + s * bstep, bv[j]);
    for (int i = 0; i < TM; ++i)
      for (int q = 0; q < AF; ++q) av[i][q] = texelFetch(a_texels, arow[i] + s * AF + q);
    for (int i = 0; i < TM; ++i)
      for (int j = 0; j < TN; ++j) {
        float sum = acc[i][j];
        for (int q = 0; q < AF; ++q)
          sum = fma(av[i][q].w, bv[j][4 * q + 3], fma(av[i][q].z, bv[j][4 * q + 2],
                fma(av[i][q].y, bv[j][4 * q + 1], fma(av[i][q].x, bv[j][4 * q], sum))));
        acc[i][j] = sum;
      }
  }
  // Constant trip counts with the edge tests inside: a data-dependent loop bound would keep acc[] an
  // indexed array, which llvmpipe places in memory with a masked store per lane.
  for (int j = 0; j < TN; ++j) {
    uint n = n0 + j * LOCAL;
    float bn = (pc.epilogue & MATMUL_EPILOGUE_BIAS) != 0u && n < pc.n ? bias[pc.bias_offset + n] : 0.0;
    for (int i = 0; i < TM; ++i)
      if (n < pc.n && m0 + i < pc.m) c[pc.c_offset + (m0 + i) * pc.ldc + n] = matmul_activate(acc[i][j] + bn);
  }
}
