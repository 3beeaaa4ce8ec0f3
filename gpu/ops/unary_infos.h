// Interface of unary.comp, the only declaration of it (included by the shader and by unary.cpp).
// Bindings: 0 IN (f32 storage, read, contiguous from in_offset), 1 OUT (f32 storage, written contiguous).
// Specialization constant 0: the activation's id (activation_infos.h; gpu::UnaryOp's value; LATTICE_ACT_NONE
// for none). OUT[i] = clamp(f(scale * IN[in_offset + i]), lo, hi), NaN kept (lo <= hi, neither NaN; +-inf
// for no bound).
#include "../shaders/interface.h"
#include "activation_infos.h"
#define UNARY_LOCAL_SIZE 256
LATTICE_PUSH_BEGIN(UnaryPush)
  LATTICE_U32(numel)
  LATTICE_U32(in_offset)
  LATTICE_F32(scale)
  LATTICE_F32(lo)
  LATTICE_F32(hi)
LATTICE_PUSH_END(UnaryPush)
