// Interface of both matmul shaders (matmul.comp: portable; matmul_texel.comp: texel-buffer variant), the
// only declaration of it (included by the shaders and by matmul.cpp). C[M, N] = A[M, K] * B[N, K]^T + bias.
// Bindings: 0 A (f32), 1 B (weights; f32/f16/bf16), 2 BIAS (f32 storage; unused without HAS_BIAS),
// 3 C (f32 storage, written). Portable: 0 and 1 are storage buffers (B read as uint words). Texel: 0 is a
// samplerBuffer of RGBA32F, 1 a samplerBuffer of RGBA32F (f32) or usamplerBuffer of RGBA16UI (f16, bf16),
// so one texel holds 4 consecutive k. Offsets are in elements (texel variant: multiples of 4).
// Specialization constants: 0 B_TYPE (MATMUL_B_F32/F16/BF16), 1 HAS_BIAS (0/1).
#include "../shaders/interface.h"
#define MATMUL_B_F32 0
#define MATMUL_B_F16 1
#define MATMUL_B_BF16 2
#define MATMUL_LOCAL_SIZE 64
#define MATMUL_TM 4  // output rows per invocation, portable
#define MATMUL_TN 4  // output columns per invocation, portable
// Texel variant (matmul_texel.comp): a workgroup of MATMUL_TEXEL_LOCAL lanes computes TM rows x
// (LOCAL * TN) columns; each lane TM x TN accumulators. Measured on llvmpipe (docs/performance.md).
#ifndef MATMUL_TEXEL_TM
#define MATMUL_TEXEL_TM 16
#endif
#ifndef MATMUL_TEXEL_TN
#define MATMUL_TEXEL_TN 16
#endif
#ifndef MATMUL_TEXEL_LOCAL
#define MATMUL_TEXEL_LOCAL 8
#endif
LATTICE_PUSH_BEGIN(MatmulPush)
  LATTICE_U32(m)
  LATTICE_U32(n)
  LATTICE_U32(k)
  LATTICE_U32(a_offset)
  LATTICE_U32(b_offset)
  LATTICE_U32(bias_offset)
  LATTICE_U32(c_offset)
LATTICE_PUSH_END(MatmulPush)
