#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Scaled dot-product attention for CPU devices (llvmpipe/lavapipe), flash style: the "texel_tile" variant
// of attention.cpp (interface: attention_infos.h, shared with attention.comp; the key block is
// ATTENTION_TEXEL_KEY_BLOCK of attention_infos.h). Chosen on CPU devices above head dim 64, where it is
// faster per CPU-second than the "texel" variant. llvmpipe's compile time
// grows about with the square of the per-invocation state (ROWS x D accumulators), hence 8 rows up to D = 128
// and 4 above (docs/performance.md, "texel_tile").
// llvmpipe runs 8 invocations as the lanes of one SIMD
// vector and compiles a texel fetch as a function call that spills every live value, so the kernel is laid
// out like matmul_texel.comp: per key block it computes a tile of scores, ROWS query rows (per lane) x KB
// keys (the same for every lane), streaming over the head dim with every fetch of a step before its
// multiply-adds, so one step's ROWS + KB texels serve ROWS * KB * 4 multiply-adds. q is fetched again per
// block instead of being kept, which leaves the accumulators (ROWS x D) as the only large per-invocation
// state. Then the online softmax on the tile (one rescale of each row's accumulator per block), and P.V:
// each V row fetched (D/4 calls) serves ROWS rows, KEYS keys per step so that each accumulator load and
// store serves KEYS keys; head dim outer, rows inner, so each fetched V texel is reloaded once per step. The head-dim and row loops are unrolled (acc indexed by a rolled loop would go to
// per-lane scratch memory); key loops stay rolled. Tails: rows past Lq and keys past the end are clamped
// (in bounds), computed, and dropped by select.
#include "attention_infos.h"
layout(local_size_x = ATTENTION_LOCAL_SIZE) in;
#include "common.glsl"
#include "attention_common.glsl"
const uint D4 = D / 4;  // attention.cpp takes this variant only for D % 4 == 0
#define KB ATTENTION_TEXEL_KEY_BLOCK

layout(binding = 0) uniform samplerBuffer q_in;
layout(binding = 1) uniform samplerBuffer k_in;
layout(binding = 2) uniform samplerBuffer v_in;
// Whole texels: llvmpipe stores each element through a loop over the lanes, so a vec4 store is a quarter of
// the loops (and of the compile time they cost) of four float stores.
layout(std430, binding = 5) writeonly buffer OutBuf { vec4 o4[]; };

void main() {
  uint idx = lattice_flat_index();
  uint row_groups = (pc.lq + ROWS - 1u) / ROWS;
  if (idx >= pc.batch * pc.heads * row_groups) return;
  // Consecutive invocations take consecutive row groups of one (batch, head): they share every K/V row read.
  uint i0 = (idx % row_groups) * ROWS, bh = idx / row_groups, h = bh % pc.heads, b = bh / pc.heads;
  // Texel indices (offsets and strides are multiples of 4 elements: attention.cpp checks).
  int k_base = int((pc.k_offset + b * pc.k_sb + h * pc.k_sh) / 4u), k_sl = int(pc.k_sl / 4u);
  int v_base = int((pc.v_offset + b * pc.v_sb + h * pc.v_sh) / 4u), v_sl = int(pc.v_sl / 4u);
  uint mask_base = pc.mask_offset + b * pc.mask_sb;
  uint bias_base = pc.bias_offset + h * pc.bias_sh;
  int qrow[ROWS];
  // Rows past Lq repeat the last row (in bounds); they are computed but never stored.
  [[unroll]] for (uint r = 0; r < ROWS; ++r)
    qrow[r] = int((pc.q_offset + b * pc.q_sb + h * pc.q_sh + min(i0 + r, pc.lq - 1u) * pc.q_sl) / 4u);

  vec4 acc[ROWS][D4];
  float m[ROWS], l[ROWS];
  [[unroll]] for (uint r = 0; r < ROWS; ++r) {
    [[unroll]] for (uint t = 0; t < D4; ++t) acc[r][t] = vec4(0.0);
    m[r] = NEG_INF;
    l[r] = 0.0;
  }
  uint kend = attention_key_end(i0);
  [[dont_unroll]] for (uint j0 = 0; j0 < kend; j0 += KB) {
    // Scores of the block: s[r][c] = q_r . k_{j0+c}, keys past kend clamped (in bounds) and dropped below.
    int krow[KB];
    [[unroll]] for (uint c = 0; c < KB; ++c) krow[c] = k_base + int(min(j0 + c, kend - 1u)) * k_sl;
    float s[ROWS][KB];
    [[unroll]] for (uint r = 0; r < ROWS; ++r)
      [[unroll]] for (uint c = 0; c < KB; ++c) s[r][c] = 0.0;
    [[dont_unroll]] for (int t = 0; t < int(D4); ++t) {
      vec4 kv[KB], qv[ROWS];
      [[unroll]] for (uint c = 0; c < KB; ++c) kv[c] = texelFetch(k_in, krow[c] + t);
      [[unroll]] for (uint r = 0; r < ROWS; ++r) qv[r] = texelFetch(q_in, qrow[r] + t);
      [[unroll]] for (uint r = 0; r < ROWS; ++r)
        [[unroll]] for (uint c = 0; c < KB; ++c)
          s[r][c] = fma(qv[r].w, kv[c].w, fma(qv[r].z, kv[c].z, fma(qv[r].y, kv[c].y, fma(qv[r].x, kv[c].x, s[r][c]))));
    }
    float block_max[ROWS];
    [[unroll]] for (uint r = 0; r < ROWS; ++r) block_max[r] = NEG_INF;
    [[unroll]] for (uint c = 0; c < KB; ++c) {
      uint j = j0 + c;
      float extra = HAS_MASK != 0u ? key_mask[mask_base + min(j, kend - 1u)] : 0.0;
      [[unroll]] for (uint r = 0; r < ROWS; ++r) {
        s[r][c] = attention_score(s[r][c] * pc.scale + extra, i0 + r, j, kend, bias_base);
        block_max[r] = max(block_max[r], s[r][c]);
      }
    }
    float ref[ROWS], corr[ROWS];
    [[unroll]] for (uint r = 0; r < ROWS; ++r) corr[r] = attention_fold_block(m[r], l[r], block_max[r], ref[r]);
    [[unroll]] for (uint r = 0; r < ROWS; ++r)
      [[unroll]] for (uint t = 0; t < D4; ++t) acc[r][t] *= corr[r];
    // s and pw are indexed by constants only, so they stay SSA values (registers and spill slots); an array
    // indexed by a rolled loop anywhere goes to per-lane scratch memory (the tile's multiply-adds on it ran
    // at half speed).
    float pw[ROWS][KB];
    [[unroll]] for (uint r = 0; r < ROWS; ++r)
      [[unroll]] for (uint c = 0; c < KB; ++c) {
        float e = exp(s[r][c] - ref[r]);  // dropped keys: exp(-inf) = 0
        l[r] += e;
        pw[r][c] = e;
      }
    [[dont_unroll]] for (uint u = 0; u < KB; u += KEYS) {
      vec4 vv[KEYS][D4];
      [[unroll]] for (uint p = 0; p < KEYS; ++p) {
        int ve = v_base + int(min(j0 + u + p, kend - 1u)) * v_sl;
        [[unroll]] for (uint t = 0; t < D4; ++t) vv[p][t] = texelFetch(v_in, ve + int(t));
      }
      // This step's weights of every row first, then the head dim outer and rows inner: each V texel is loaded
      // once per step from its spill slot, not once per row (2-4% more GFLOP per CPU-second at D = 128).
      float w[ROWS][KEYS];
      [[unroll]] for (uint r = 0; r < ROWS; ++r) {
        // pw[r][u + p] by selects over constant indices: indexed by the rolled u, pw would live in
        // per-lane scratch memory and every read would be a gather (measured 12-15% of the kernel).
        [[unroll]] for (uint p = 0; p < KEYS; ++p) w[r][p] = pw[r][p];
        [[unroll]] for (uint c = KEYS; c < KB; c += KEYS)
          [[unroll]] for (uint p = 0; p < KEYS; ++p) w[r][p] = u == c ? pw[r][c + p] : w[r][p];
      }
      [[unroll]] for (uint t = 0; t < D4; ++t)
        [[unroll]] for (uint r = 0; r < ROWS; ++r) {
          vec4 sum = w[r][0] * vv[0][t];
          [[unroll]] for (uint p = 1; p < KEYS; ++p) sum += w[r][p] * vv[p][t];
          acc[r][t] += sum;
        }
    }
  }
  [[unroll]] for (uint r = 0; r < ROWS; ++r) {
    uint i = i0 + r;
    float inv = attention_finish_row(b, i, h, m[r], l[r]);
    uint oe = ((b * pc.lq + i) * pc.heads + h) * D4;
    [[unroll]] for (uint t = 0; t < D4; ++t)
      if (i < pc.lq) o4[oe + t] = acc[r][t] * inv;
  }
}
