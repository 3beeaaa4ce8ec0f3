#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Scaled dot-product attention, flash style: each invocation owns one query row and keeps q (pre-scaled),
// the output accumulator and the running max/sum in registers while it streams over the keys in blocks.
// Per block it computes the scores, rescales the accumulator once if the maximum grew, then adds
// exp(s - max) * v for each key. No shared memory and no barriers: on lavapipe (8-wide SIMD per
// invocation group, 2 cores) those cost more than they save, and neighbouring invocations read the same
// key and value rows (same batch and head, consecutive queries), which stay in cache. With ATTENTION_TEXEL
// Q/K/V are fetched as RGBA32F texels, which llvmpipe gathers faster than per-lane storage-buffer loads.
#include "attention_infos.h"
layout(local_size_x = ATTENTION_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint D = 64;
layout(constant_id = 1) const uint HAS_MASK = 0;
layout(constant_id = 2) const uint HAS_BIAS = 0;
layout(constant_id = 3) const uint CAUSAL = 0;
const uint D4 = (D + 3) / 4;

#ifdef ATTENTION_TEXEL
layout(binding = 0) uniform samplerBuffer q_in;
layout(binding = 1) uniform samplerBuffer k_in;
layout(binding = 2) uniform samplerBuffer v_in;
// Element offset e is a multiple of 4 (attention.cpp checks), so 4 values are one texel.
#define LOAD4(buf, e, t) texelFetch(buf, int((e) / 4u + (t)))
#else
layout(std430, binding = 0) readonly buffer QBuf { float q_in[]; };
layout(std430, binding = 1) readonly buffer KBuf { float k_in[]; };
layout(std430, binding = 2) readonly buffer VBuf { float v_in[]; };
// Values 4t..4t+3 of a row starting at e; past D the index is clamped (in bounds) and the value zeroed.
#define LOAD4(buf, e, t) vec4(buf[(e) + 4u * (t)], \
    4u * (t) + 1u < D ? buf[(e) + min(4u * (t) + 1u, D - 1u)] : 0.0, \
    4u * (t) + 2u < D ? buf[(e) + min(4u * (t) + 2u, D - 1u)] : 0.0, \
    4u * (t) + 3u < D ? buf[(e) + min(4u * (t) + 3u, D - 1u)] : 0.0)
#endif
layout(std430, binding = 3) readonly buffer MaskBuf { float key_mask[]; };
layout(std430, binding = 4) readonly buffer BiasBuf { float score_bias[]; };
layout(std430, binding = 5) writeonly buffer OutBuf { float o[]; };

const float NEG_INF = -1.0 / 0.0;

void main() {
  uint idx = lattice_flat_index();
  if (idx >= pc.batch * pc.heads * pc.lq) return;
  // Consecutive invocations take consecutive queries of one (batch, head): they share every K/V row read.
  uint i = idx % pc.lq, bh = idx / pc.lq, h = bh % pc.heads, b = bh / pc.heads;
  uint qe = pc.q_offset + b * pc.q_sb + h * pc.q_sh + i * pc.q_sl;
  uint k_base = pc.k_offset + b * pc.k_sb + h * pc.k_sh;
  uint v_base = pc.v_offset + b * pc.v_sb + h * pc.v_sh;
  uint mask_base = pc.mask_offset + b * pc.mask_sb;
  uint bias_base = pc.bias_offset + h * pc.bias_sh + i * pc.lk;

  vec4 q[D4], acc[D4];
  for (uint t = 0; t < D4; ++t) {
    q[t] = LOAD4(q_in, qe, t) * pc.scale;
    acc[t] = vec4(0.0);
  }
  float m = NEG_INF, l = 0.0;
  uint kend = CAUSAL != 0u ? min(pc.lk, i + 1u) : pc.lk;
  [[dont_unroll]] for (uint j0 = 0; j0 < kend; j0 += ATTENTION_KEY_BLOCK) {
    float s[ATTENTION_KEY_BLOCK];
    float block_max = NEG_INF;
    // Loops over keys stay rolled: unrolled into the D-long inner loops they take llvmpipe tens of seconds
    // to compile for D = 256. The D loops unroll, which keeps q and acc in registers.
    [[dont_unroll]] for (uint u = 0; u < ATTENTION_KEY_BLOCK; ++u) {
      uint j = j0 + u;
      s[u] = NEG_INF;
      if (j >= kend) continue;
      uint ke = k_base + j * pc.k_sl;
      vec4 d = vec4(0.0);  // 4 independent partial sums
      for (uint t = 0; t < D4; ++t) d += q[t] * LOAD4(k_in, ke, t);
      float sc = (d.x + d.y) + (d.z + d.w);
      if (HAS_MASK != 0u) sc += key_mask[mask_base + j];
      if (HAS_BIAS != 0u) sc += score_bias[bias_base + j];
      s[u] = sc;
      block_max = max(block_max, sc);
    }
    // A block of -inf scores (masked keys) adds nothing; skipping it also avoids exp(-inf - -inf) = NaN.
    if (block_max == NEG_INF) continue;
    if (block_max > m) {
      float corr = exp(m - block_max);  // 0 on the first block (m = -inf)
      l *= corr;
      for (uint t = 0; t < D4; ++t) acc[t] *= corr;
      m = block_max;
    }
    [[dont_unroll]] for (uint u = 0; u < ATTENTION_KEY_BLOCK; ++u) {
      uint j = j0 + u;
      if (j >= kend) continue;
      float p = exp(s[u] - m);
      l += p;
      uint ve = v_base + j * pc.v_sl;
      for (uint t = 0; t < D4; ++t) acc[t] += p * LOAD4(v_in, ve, t);
    }
  }
  // l is 0 only when every key was -inf: the row comes out as zeros (PyTorch gives NaN).
  float inv = l > 0.0 ? 1.0 / l : 0.0;
  uint oe = ((b * pc.lq + i) * pc.heads + h) * D;
  for (uint t = 0; t < D4; ++t)
    for (uint c = 0; c < 4u; ++c)
      if (4u * t + c < D) o[oe + 4u * t + c] = acc[t][c] * inv;
}
