#version 450
#extension GL_GOOGLE_include_directive : require
// Portable C = act(A * B^T + bias): storage buffers only, no shared memory, a TM x TN register tile per
// invocation. Correct on any Vulkan 1.2 device; the fast variants are chosen over it where they apply.
#include "matmul_infos.h"
layout(local_size_x = MATMUL_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint B_TYPE = MATMUL_B_F32;
#include "matmul_decode.glsl"
#include "matmul_epilogue.glsl"
layout(std430, binding = 0) readonly buffer ABuf { float a[]; };
layout(std430, binding = 1) readonly buffer BBuf { uint b_words[]; };  // decoded per B_TYPE
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 3) writeonly buffer CBuf { float c[]; };

float load_b(uint idx) {
  if (B_TYPE == MATMUL_B_F32) return uintBitsToFloat(b_words[idx]);
  if (B_TYPE == MATMUL_B_F16 || B_TYPE == MATMUL_B_BF16) return matmul_decode_h16x2(b_words[idx >> 1])[idx & 1u];
  return matmul_decode_f8x4(b_words[idx >> 2])[idx & 3u];
}

void main() {
  uint tiles_n = (pc.n + MATMUL_TN - 1) / MATMUL_TN;
  uint tile = lattice_flat_index();
  uint m0 = (tile / tiles_n) * MATMUL_TM, n0 = (tile % tiles_n) * MATMUL_TN;
  if (m0 >= pc.m) return;
  // Rows past the edge are clamped for loading (always in bounds) and skipped when storing.
  uint arow[MATMUL_TM], brow[MATMUL_TN];
  for (uint i = 0; i < MATMUL_TM; ++i) arow[i] = pc.a_offset + min(m0 + i, pc.m - 1) * pc.k;
  for (uint j = 0; j < MATMUL_TN; ++j) brow[j] = pc.b_offset + min(n0 + j, pc.n - 1) * pc.k;
  float acc[MATMUL_TM * MATMUL_TN];
  for (uint t = 0; t < MATMUL_TM * MATMUL_TN; ++t) acc[t] = 0.0;
  for (uint kk = 0; kk < pc.k; ++kk) {
    float av[MATMUL_TM];
    for (uint i = 0; i < MATMUL_TM; ++i) av[i] = a[arow[i] + kk];
    for (uint j = 0; j < MATMUL_TN; ++j) {
      float bv = load_b(brow[j] + kk);
      for (uint i = 0; i < MATMUL_TM; ++i) acc[i * MATMUL_TN + j] += av[i] * bv;
    }
  }
  for (uint i = 0; i < MATMUL_TM && m0 + i < pc.m; ++i)
    for (uint j = 0; j < MATMUL_TN && n0 + j < pc.n; ++j)
      c[pc.c_offset + (m0 + i) * pc.ldc + n0 + j] = matmul_activate(
          acc[i * MATMUL_TN + j] + ((pc.epilogue & MATMUL_EPILOGUE_BIAS) != 0u ? bias[pc.bias_offset + n0 + j] : 0.0));
}
