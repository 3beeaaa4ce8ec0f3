// Interface of reduce.comp, the only declaration of it (included by the shader and by reduce.cpp).
// OUT[o] = reduce_{j < n} IN[base(o) + j*red_stride], where base(o) unravels o over `shape` (the input's
// shape without the reduced dim, rank <= REDUCE_MAX_RANK) with `strides`, from in_offset.
// Bindings: 0 IN (f32 storage, read), 1 OUT (f32 storage, written contiguous).
// Specialization constant 0: REDUCE_SUM, REDUCE_MEAN, REDUCE_MAX or REDUCE_L1 (the sum of |x|).
#include "../shaders/interface.h"
#define REDUCE_LOCAL_SIZE 64
#define REDUCE_MAX_RANK 6
#define REDUCE_SUM 0
#define REDUCE_MEAN 1
#define REDUCE_MAX 2
#define REDUCE_L1 3
LATTICE_PUSH_BEGIN(ReducePush)
  LATTICE_U32(numel)  // outputs
  LATTICE_U32(rank)
  LATTICE_U32(in_offset)
  LATTICE_U32(n)
  LATTICE_U32(red_stride)
  LATTICE_U32_ARRAY(shape, REDUCE_MAX_RANK)
  LATTICE_U32_ARRAY(strides, REDUCE_MAX_RANK)
LATTICE_PUSH_END(ReducePush)
