#version 450
#extension GL_GOOGLE_include_directive : require
// A UniPC step (estimate, corrector, predictor) in one pass over the latent, instead of one multiply and one
// add per term: each value is read once and the three results written once.
#include "multistep_infos.h"
layout(local_size_x = MULTISTEP_LOCAL_SIZE) in;
#include "common.glsl"

layout(std430, binding = 0) readonly buffer XBuf { float xs[]; };
layout(std430, binding = 1) readonly buffer VBuf { float vs[]; };
layout(std430, binding = 2) readonly buffer LBuf { float ls[]; };
layout(std430, binding = 3) readonly buffer H0Buf { float h0[]; };
layout(std430, binding = 4) readonly buffer H1Buf { float h1[]; };
layout(std430, binding = 5) readonly buffer H2Buf { float h2[]; };
layout(std430, binding = 6) readonly buffer H3Buf { float h3[]; };
layout(std430, binding = 7) writeonly buffer MBuf { float ms[]; };
layout(std430, binding = 8) writeonly buffer XcBuf { float xcs[]; };
layout(std430, binding = 9) writeonly buffer YBuf { float ys[]; };

// acc + c·t rounded as a multiply then an add (no fma contraction), skipped for c = 0.
float term(float acc, float c, float t) {
  precise float r = acc + c * t;
  return c == 0.0 ? acc : r;
}

void main() {
  uint i = lattice_flat_index();
  if (i >= pc.numel) return;
  uint n = max(pc.c_count, pc.p_count);
  float h[MULTISTEP_MAX_HISTORY];
  h[0] = n > 0u ? h0[pc.h_offset[0] + i] : 0.0;
  h[1] = n > 1u ? h1[pc.h_offset[1] + i] : 0.0;
  h[2] = n > 2u ? h2[pc.h_offset[2] + i] : 0.0;
  h[3] = n > 3u ? h3[pc.h_offset[3] + i] : 0.0;
  float x = xs[pc.x_offset + i];
  float m = term(x, pc.neg_convert, vs[pc.v_offset + i]);
  float xc = x;
  if (pc.corrector != 0u) {
    xc = term(term(0.0, pc.c_last, ls[pc.l_offset + i]), pc.c_estimate, m);
    for (uint k = 0u; k < pc.c_count; ++k) xc = term(xc, uintBitsToFloat(pc.c_history[k]), h[k]);
    xcs[i] = xc;
  }
  float y = term(term(0.0, pc.p_sample, xc), pc.p_estimate, m);
  for (uint k = 0u; k < pc.p_count; ++k) y = term(y, uintBitsToFloat(pc.p_history[k]), h[k]);
  ms[i] = m;
  ys[i] = y;
}
