// Interface of the matmul shaders (matmul.comp: portable; matmul_texel.comp: texel-buffer variant for CPU
// devices; matmul_coopmat_nv.comp: NVIDIA cooperative matrix), the only declaration of it (included by the
// shaders and by matmul.cpp). C[M, N] = A[M, K] * B[N, K]^T + bias.
// Bindings: 0 A (f32), 1 B (weights; f32/f16/bf16/f8e4m3fn/f8e5m2), 2 BIAS (f32 storage; unused without
// MATMUL_EPILOGUE_BIAS), 3 C (f32 storage, written; row m at c_offset + m * ldc, ldc >= n). Portable and coopmat: all storage buffers (B read as uint words).
// Texel: 0 is a samplerBuffer of RGBA32F (4 k per texel); 1 a samplerBuffer of RGBA32F for f32 B, else a
// usamplerBuffer of RGBA32UI (16 bytes per texel: 8 k of f16/bf16, 16 k of fp8). Offsets are in elements.
// Specialization constant 0: B_TYPE (MATMUL_B_*). The epilogue (bias, activation) is a push constant, not
// a specialization constant: it is read once per output, and as a constant it multiplied the pipelines to
// compile. epilogue = MATMUL_EPILOGUE_BIAS if a bias is added, plus the activation applied after it, as
// (id << MATMUL_EPILOGUE_ACT_SHIFT), id from activation_infos.h (LATTICE_ACT_NONE: none), as unary.comp's.
#include "../shaders/interface.h"
#define MATMUL_B_F32 0
#define MATMUL_B_F16 1
#define MATMUL_B_BF16 2
#define MATMUL_B_F8E4M3FN 3
#define MATMUL_B_F8E5M2 4
#define MATMUL_EPILOGUE_BIAS 1u
#define MATMUL_EPILOGUE_ACT_SHIFT 1
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
// Plain (not packed) f32 B: a taller, narrower tile (matmul_texel_f32_tall); B rows [N, K] lie K * 4 bytes
// apart, and fewer of them per step (64 instead of 128) measured 11-17% faster per CPU-second on Zen 4
// (docs/performance.md, "RGBA8 texel views"). Packed weights keep 16 x 16, which their layout is built for.
#define MATMUL_TEXEL_TALL_TM 32
#define MATMUL_TEXEL_TALL_TN 8
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
  LATTICE_U32(epilogue)  // MATMUL_EPILOGUE_BIAS | activation << MATMUL_EPILOGUE_ACT_SHIFT
  LATTICE_U32(ldc)       // elements between rows of C
  LATTICE_U32(b_packed)  // texel variant only: 1 when B is in the packed order (gpu/ops/matmul.h MatmulWeights)
LATTICE_PUSH_END(MatmulPush)
