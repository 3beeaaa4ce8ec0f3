#version 450
#extension GL_GOOGLE_include_directive : require
// Implicit-GEMM convolution for CPU devices (lavapipe): rows = output pixels, columns = output channels,
// reduction over (dt, dh, dw, input-channel texel). Input and weights come packed channels-last by
// conv_pack.comp, so one RGBA texel fetch brings 4 input channels and no bounds checks are needed: all
// padding is already in the packed input. Like matmul_texel.comp: texel fetches (llvmpipe gathers them
// across its SIMD lanes, where storage-buffer loads go one lane at a time), a TM x TN tile of vec4
// accumulators per invocation, no shared memory or barriers.
#include "conv_infos.h"
layout(local_size_x = CONV_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint W_TYPE = CONV_W_F32;  // unused: packed weights are always f32
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(binding = 0) uniform samplerBuffer xp;
layout(binding = 1) uniform samplerBuffer wp;
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 3) writeonly buffer OutBuf { float y[]; };

#define TM CONV_GEMM_TM
#define TN CONV_GEMM_TN

void main() {
  uint pixels = pc.ot * pc.oh * pc.ow;  // per batch element
  uint m_total = pc.n * pixels;
  uint tiles_n = (pc.cout + TN - 1) / TN;
  uint tile = lattice_flat_index();
  uint m0 = (tile / tiles_n) * TM, n0 = (tile % tiles_n) * TN;
  if (m0 >= m_total) return;
  int c4 = int(pc.pk_c4);
  // Rows past the edge are clamped for loading (always in bounds) and skipped when storing.
  int xrow[TM], wrow[TN];
  for (int i = 0; i < TM; ++i) {
    uint m = min(m0 + i, m_total - 1);
    uint nb = m / pixels, p = m % pixels;
    uint ow = p % pc.ow, oh = (p / pc.ow) % pc.oh, ot = p / (pc.ow * pc.oh);
    xrow[i] = int((((nb * pc.pk_t + ot * pc.st) * pc.pk_h + oh * pc.sh) * pc.pk_w + ow * pc.sw) * pc.pk_c4);
  }
  int wtaps = int(pc.kt * pc.kh * pc.kw) * c4;
  for (int j = 0; j < TN; ++j) wrow[j] = int(min(n0 + j, pc.cout - 1)) * wtaps;
  vec4 acc[TM * TN];
  for (int t = 0; t < TM * TN; ++t) acc[t] = vec4(0.0);
  int wk = 0;
  for (int dt = 0; dt < int(pc.kt); ++dt)
    for (int dh = 0; dh < int(pc.kh); ++dh) {
      int xk = ((dt * int(pc.pk_h) + dh) * int(pc.pk_w)) * c4;
      for (int dw = 0; dw < int(pc.kw); ++dw) {
        for (int kk = 0; kk < c4; ++kk) {
          vec4 av[TM];
          for (int i = 0; i < TM; ++i) av[i] = texelFetch(xp, xrow[i] + xk + kk);
          for (int j = 0; j < TN; ++j) {
            vec4 bv = texelFetch(wp, wrow[j] + wk + kk);
            // vec4 accumulators: 4 independent chains keep the multiply-adds from waiting on each other.
            for (int i = 0; i < TM; ++i) acc[i * TN + j] += av[i] * bv;
          }
        }
        xk += c4;
        wk += c4;
      }
    }
  for (uint i = 0; i < TM && m0 + i < m_total; ++i) {
    uint m = m0 + i, nb = m / pixels, p = m % pixels;
    for (uint j = 0; j < TN && n0 + j < pc.cout; ++j) {
      vec4 v = acc[i * TN + j];
      y[(nb * pc.cout + n0 + j) * pixels + p] =
          (v.x + v.y) + (v.z + v.w) + (HAS_BIAS != 0u ? bias[pc.bias_offset + n0 + j] : 0.0);
    }
  }
}
