// Interface of copy.comp, the only declaration of it (included by the shader and by copy.cpp).
// DST[dst view] = convert(SRC[src view]) over one logical shape of rank <= COPY_MAX_RANK; both views are
// (offset, strides) in elements, strides >= 0 (0 = broadcast, source only).
// Bindings: 0 SRC (storage, read as uint words), 1 DST (storage, uint words, written; 16-bit elements
// that share a word with another invocation's element are written with atomics).
// Specialization constants: 0 SRC_TYPE, 1 DST_TYPE (DTYPE_F32/F16/BF16 from dtype.glsl's numbering).
#include "../shaders/interface.h"
#define COPY_LOCAL_SIZE 256
#define COPY_MAX_RANK 8
#define COPY_PER_INVOCATION 2  // consecutive elements per invocation, so a 16-bit pair is one word store
LATTICE_PUSH_BEGIN(CopyPush)
  LATTICE_U32(numel)
  LATTICE_U32(rank)
  LATTICE_U32(src_offset)
  LATTICE_U32(dst_offset)
  LATTICE_U32_ARRAY(shape, COPY_MAX_RANK)
  LATTICE_U32_ARRAY(src_strides, COPY_MAX_RANK)
  LATTICE_U32_ARRAY(dst_strides, COPY_MAX_RANK)
LATTICE_PUSH_END(CopyPush)
