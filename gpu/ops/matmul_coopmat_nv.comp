#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
// C = act(A * B^T + bias) on NVIDIA tensor cores through VK_NV_cooperative_matrix: f16 x f16 products with f32
// accumulation, one 16 x 16 tile of C per workgroup, which is one subgroup of 32. A is f32 in memory and
// converted to f16 as a matrix (the cooperative-matrix conversion constructor), so no shared memory and no
// staging copy are needed. B (f16 weights, [N, K] row-major) read column-major is exactly the K x N operand
// B^T. matmul.cpp chooses this only when M, N, K are multiples of 16 and the device reports the
// 16x16x16 f16/f16/f32/f32 subgroup shape, so every load and store is in bounds.
// Written against the GL_NV_cooperative_matrix specification and compiled here, but NOT run on hardware
// (docs/performance.md, "Matmul on lavapipe").
#include "matmul_infos.h"
#include "matmul_epilogue.glsl"
layout(local_size_x = 32) in;

layout(constant_id = 0) const uint B_TYPE = MATMUL_B_F16;  // only f16 is chosen; kept for the shared spec layout
layout(std430, binding = 0) readonly buffer ABuf { float a[]; };
layout(std430, binding = 1) readonly buffer BBuf { float16_t b[]; };
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
// coherent: under the Vulkan memory model (required by the NV extension) only non-private accesses are
// made visible by the barrier before the bias pass.
layout(std430, binding = 3) coherent buffer CBuf { float c[]; };

#define T 16
void main() {
  uint tiles_n = pc.n / T;
  uint tile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  uint m0 = (tile / tiles_n) * T, n0 = (tile % tiles_n) * T;
  if (m0 >= pc.m) return;  // whole workgroup: the grid is rounded up
  fcoopmatNV<32, gl_ScopeSubgroup, T, T> acc = fcoopmatNV<32, gl_ScopeSubgroup, T, T>(0.0);
  for (uint k = 0; k < pc.k; k += T) {
    fcoopmatNV<32, gl_ScopeSubgroup, T, T> a32;
    coopMatLoadNV(a32, a, pc.a_offset + m0 * pc.k + k, pc.k, false);
    fcoopmatNV<16, gl_ScopeSubgroup, T, T> bt;
    coopMatLoadNV(bt, b, pc.b_offset + n0 * pc.k + k, pc.k, true);
    acc = coopMatMulAddNV(fcoopmatNV<16, gl_ScopeSubgroup, T, T>(a32), bt, acc);
  }
  uint c0 = pc.c_offset + m0 * pc.ldc + n0;
  coopMatStoreNV(acc, c, c0, pc.ldc, false);
  if (pc.epilogue != 0u) {
    // The tile's elements are spread over the subgroup in an unspecified layout, so the bias and the
    // activation are applied after the store, each invocation taking 8 of the 256 elements once the
    // store is visible.
    memoryBarrierBuffer();
    barrier();
    for (uint e = gl_LocalInvocationID.x; e < T * T; e += 32) {
      uint idx = c0 + (e / T) * pc.ldc + e % T;
      float bn = (pc.epilogue & MATMUL_EPILOGUE_BIAS) != 0u ? bias[pc.bias_offset + n0 + e % T] : 0.0;
      c[idx] = matmul_activate(c[idx] + bn);
    }
  }
}
