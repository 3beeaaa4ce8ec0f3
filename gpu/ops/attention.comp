#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Scaled dot-product attention, flash style: each invocation owns ROWS consecutive query rows and keeps
// their q (pre-scaled), output accumulators and running max/sum in private arrays while it streams over
// the keys in blocks of ATTENTION_KEY_BLOCK. Per block it computes the ROWS x ATTENTION_KEY_BLOCK scores,
// rescales each row's accumulator once by exp(old max - new max), then adds exp(s - max) * v for each key.
// Every K or V row fetched serves all ROWS query rows: on lavapipe a texel fetch is a function call, so
// ROWS > 1 amortises it over ROWS multiply-adds (docs/performance.md). The row and D loops are forced to
// unroll ([[unroll]]: left to itself NIR keeps the ROWS loop rolled and q/acc go to indexed scratch
// memory, about 8x slower); tails are clamped and masked by select rather than per-lane branches.
// No shared memory and no barriers: on lavapipe (8-wide SIMD per invocation group, 2 cores) those cost more
// than they save, and neighbouring invocations read the same key and value rows (same batch and head,
// consecutive query rows), which stay in cache. With ATTENTION_TEXEL Q/K/V are fetched as RGBA32F texels,
// which llvmpipe gathers faster than per-lane storage-buffer loads.
#include "attention_infos.h"
layout(local_size_x = ATTENTION_LOCAL_SIZE) in;
#include "common.glsl"
#include "attention_common.glsl"
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
layout(std430, binding = 5) writeonly buffer OutBuf { float o[]; };

void main() {
  uint idx = lattice_flat_index();
  uint row_groups = (pc.lq + ROWS - 1u) / ROWS;
  if (idx >= pc.batch * pc.heads * row_groups) return;
  // Consecutive invocations take consecutive row groups of one (batch, head): they share every K/V row read.
  uint i0 = (idx % row_groups) * ROWS, bh = idx / row_groups, h = bh % pc.heads, b = bh / pc.heads;
  uint k_base = pc.k_offset + b * pc.k_sb + h * pc.k_sh;
  uint v_base = pc.v_offset + b * pc.v_sb + h * pc.v_sh;
  uint mask_base = pc.mask_offset + b * pc.mask_sb;
  uint bias_base = pc.bias_offset + h * pc.bias_sh;

  vec4 q[ROWS][D4], acc[ROWS][D4];
  float m[ROWS], l[ROWS];
  [[unroll]] for (uint r = 0; r < ROWS; ++r) {
    // Rows past Lq repeat the last row (in bounds); they are computed but never stored.
    uint qe = pc.q_offset + b * pc.q_sb + h * pc.q_sh + min(i0 + r, pc.lq - 1u) * pc.q_sl;
    [[unroll]] for (uint t = 0; t < D4; ++t) {
      q[r][t] = LOAD4(q_in, qe, t) * pc.scale;
      acc[r][t] = vec4(0.0);
    }
    m[r] = NEG_INF;
    l[r] = 0.0;
  }
  uint kend = attention_key_end(i0);
  [[dont_unroll]] for (uint j0 = 0; j0 < kend; j0 += ATTENTION_KEY_BLOCK) {
    float s[ROWS][ATTENTION_KEY_BLOCK];
    float block_max[ROWS];
    [[unroll]] for (uint r = 0; r < ROWS; ++r) block_max[r] = NEG_INF;
    // Loops over keys stay rolled: unrolled into the D-long inner loops they take llvmpipe tens of seconds
    // to compile. The D and row loops unroll, which keeps q and acc out of indexed memory. Each step takes
    // KEYS keys, whole rows fetched before the FMAs, so that each q (and below each acc) load serves KEYS keys.
    [[dont_unroll]] for (uint u = 0; u < ATTENTION_KEY_BLOCK; u += KEYS) {
      vec4 kv[KEYS][D4];
      float extra[KEYS];
      [[unroll]] for (uint p = 0; p < KEYS; ++p) {
        uint j = min(j0 + u + p, kend - 1u);
        [[unroll]] for (uint t = 0; t < D4; ++t) kv[p][t] = LOAD4(k_in, k_base + j * pc.k_sl, t);
        extra[p] = HAS_MASK != 0u ? key_mask[mask_base + j] : 0.0;
      }
      [[unroll]] for (uint r = 0; r < ROWS; ++r) {
        [[unroll]] for (uint p = 0; p < KEYS; ++p) {
          uint j = j0 + u + p;
          vec4 d = vec4(0.0);  // 4 independent partial sums
          [[unroll]] for (uint t = 0; t < D4; ++t) d += q[r][t] * kv[p][t];
          float sc = attention_score((d.x + d.y) + (d.z + d.w) + extra[p], i0 + r, j, kend, bias_base);
          s[r][u + p] = sc;
          block_max[r] = max(block_max[r], sc);
        }
      }
    }
    // Each row rescales once per block.
    float ref[ROWS];
    [[unroll]] for (uint r = 0; r < ROWS; ++r) {
      float corr = attention_fold_block(m[r], l[r], block_max[r], ref[r]);
      [[unroll]] for (uint t = 0; t < D4; ++t) acc[r][t] *= corr;
    }
    [[dont_unroll]] for (uint u = 0; u < ATTENTION_KEY_BLOCK; u += KEYS) {
      vec4 vv[KEYS][D4];
      [[unroll]] for (uint p = 0; p < KEYS; ++p) {
        uint ve = v_base + min(j0 + u + p, kend - 1u) * pc.v_sl;
        [[unroll]] for (uint t = 0; t < D4; ++t) vv[p][t] = LOAD4(v_in, ve, t);
      }
      [[unroll]] for (uint r = 0; r < ROWS; ++r) {
        float w[KEYS];
        [[unroll]] for (uint p = 0; p < KEYS; ++p) {
          w[p] = exp(s[r][u + p] - ref[r]);  // dropped keys: exp(-inf) = 0
          l[r] += w[p];
        }
        [[unroll]] for (uint t = 0; t < D4; ++t) {
          vec4 sum = w[0] * vv[0][t];
          [[unroll]] for (uint p = 1; p < KEYS; ++p) sum += w[p] * vv[p][t];
          acc[r][t] += sum;
        }
      }
    }
  }
  [[unroll]] for (uint r = 0; r < ROWS; ++r) {
    uint i = i0 + r;
    float inv = attention_finish_row(b, i, h, m[r], l[r]);
    uint oe = ((b * pc.lq + i) * pc.heads + h) * D;
    [[unroll]] for (uint t = 0; t < D4; ++t)
      [[unroll]] for (uint c = 0; c < 4u; ++c)
        if (i < pc.lq && 4u * t + c < D) o[oe + 4u * t + c] = acc[r][t][c] * inv;
  }
}
