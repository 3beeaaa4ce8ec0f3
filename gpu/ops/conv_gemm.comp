#version 450
#extension GL_GOOGLE_include_directive : require
// Implicit-GEMM convolution for CPU devices (lavapipe): rows = output pixels, columns = output channels,
// reduction over (dt, dh, dw, input-channel texel). Input and weights come packed channels-last by
// conv_pack.comp, so one RGBA texel fetch brings 4 input channels and no bounds checks are needed: all
// padding is already in the packed input. Laid out for llvmpipe as matmul_texel.comp is: a workgroup (one
// 8-wide SIMD group) owns TM output pixels, so input fetches have workgroup-uniform addresses (one scalar
// load broadcast to the lanes); each lane owns TN output channels (lane, lane + LOCAL, ...) and gathers
// those weight rows; the TM x TN accumulators are indexed by constants only, so they stay in registers
// (a data-dependent index would put them in memory); no shared memory or barriers.
// Workgroup ids: x (+ z * num_x) picks the pixel block, y the channel block.
#include "conv_infos.h"
#define TM CONV_GEMM_TM
#define TN CONV_GEMM_TN
#define LOCAL CONV_GEMM_LOCAL
layout(local_size_x = LOCAL) in;

layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(binding = 0) uniform samplerBuffer xp;
layout(binding = 1) uniform samplerBuffer wp;
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 3) writeonly buffer OutBuf { float y[]; };

void main() {
  uint pixels = pc.ot * pc.oh * pc.ow;  // per batch element
  uint m_total = pc.n * pixels;
  uint m0 = (gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * TM;
  uint n0 = gl_WorkGroupID.y * (LOCAL * TN) + gl_LocalInvocationID.x;
  if (m0 >= m_total) return;
  int c4 = int(pc.pk_c4);
  // Pixels and channels past the edge are clamped for loading (always in bounds), skipped when storing.
  int xrow[TM], wrow[TN];
  for (int i = 0; i < TM; ++i) {
    uint m = min(m0 + i, m_total - 1);
    uint nb = m / pixels, p = m % pixels;
    uint ow = p % pc.ow, oh = (p / pc.ow) % pc.oh, ot = p / (pc.ow * pc.oh);
    xrow[i] = int((((nb * pc.pk_t + ot * pc.st) * pc.pk_h + oh * pc.sh) * pc.pk_w + ow * pc.sw) * pc.pk_c4);
  }
  int taps = int(pc.kt * pc.kh * pc.kw), khw = int(pc.kh * pc.kw);
  for (int j = 0; j < TN; ++j) wrow[j] = int(min(n0 + j * LOCAL, pc.cout - 1)) * taps * c4;
  float acc[TM][TN];
  for (int i = 0; i < TM; ++i)
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0;
  for (int tap = 0; tap < taps; ++tap) {
    // The packed input's offset for this tap is the same for every pixel.
    int dt = tap / khw, dh = (tap / int(pc.kw)) % int(pc.kh), dw = tap % int(pc.kw);
    int xk = ((dt * int(pc.pk_h) + dh) * int(pc.pk_w) + dw) * c4, wk = tap * c4;
    for (int kk = 0; kk < c4; ++kk) {
      vec4 bv[TN];
      for (int j = 0; j < TN; ++j) bv[j] = texelFetch(wp, wrow[j] + wk + kk);
      for (int i = 0; i < TM; ++i) {
        vec4 av = texelFetch(xp, xrow[i] + xk + kk);
        for (int j = 0; j < TN; ++j)
          acc[i][j] = fma(av.w, bv[j].w, fma(av.z, bv[j].z, fma(av.y, bv[j].y, fma(av.x, bv[j].x, acc[i][j]))));
      }
    }
  }
  // Constant trip counts with the edge tests inside (see above).
  for (int j = 0; j < TN; ++j) {
    uint co = n0 + j * LOCAL;
    float bn = HAS_BIAS != 0u && co < pc.cout ? bias[pc.bias_offset + co] : 0.0;
    for (int i = 0; i < TM; ++i) {
      uint m = m0 + i;
      if (co < pc.cout && m < m_total) y[((m / pixels) * pc.cout + co) * pixels + m % pixels] = acc[i][j] + bn;
    }
  }
}
