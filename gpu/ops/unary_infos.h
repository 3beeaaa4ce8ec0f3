// Interface of unary.comp, the only declaration of it (included by the shader and by unary.cpp).
// Bindings: 0 IN (f32 storage, read, contiguous from in_offset), 1 OUT (f32 storage, written contiguous).
// Specialization constant 0: function (UNARY_GELU_ERF..UNARY_SILU).
#include "../shaders/interface.h"
#define UNARY_LOCAL_SIZE 256
#define UNARY_GELU_ERF 0
#define UNARY_GELU_TANH 1
#define UNARY_SILU 2
LATTICE_PUSH_BEGIN(UnaryPush)
  LATTICE_U32(numel)
  LATTICE_U32(in_offset)
LATTICE_PUSH_END(UnaryPush)
