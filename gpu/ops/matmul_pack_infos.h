// Interface of matmul_pack.comp, the only declaration of it (included by the shader and by matmul_pack.cpp).
// B[n, k] = X[x_offset + n * sn + k * sk] for n < n_src and k < k_src, 0 elsewhere, written in the texel
// matmul's packed order (gpu/ops/matmul.h MatmulWeights) as an [n_out, k_out] matrix from out_offset.
// Bindings: 0 X (f32 storage, read), 1 OUT (vec4 storage, written; out_offset in elements, a multiple of 4).
// One invocation per output texel (4 consecutive k of one n): n_out * k_out / 4 of them. k_out is a
// multiple of 4. MATMUL_PACK_COLUMNS: the packed column block width, the texel matmul's columns per workgroup
// (MATMUL_TEXEL_LOCAL * MATMUL_TEXEL_TN of matmul_infos.h; matmul_pack.cpp static_asserts it).
#include "../shaders/interface.h"
#define MATMUL_PACK_LOCAL_SIZE 64
#define MATMUL_PACK_COLUMNS 128
LATTICE_PUSH_BEGIN(MatmulPackPush)
  LATTICE_U32(n_out)
  LATTICE_U32(k_out)
  LATTICE_U32(n_src)
  LATTICE_U32(k_src)
  LATTICE_U32(x_offset)
  LATTICE_U32(sn)
  LATTICE_U32(sk)
  LATTICE_U32(out_offset)
LATTICE_PUSH_END(MatmulPackPush)
