// Interface of modulate.comp, the only declaration of it (included by the shader and by modulate.cpp).
// OUT[b, l, c] = X*(1 + P) + Q   (MODULATE: P = scale, Q = shift)
//              = X + P*Q         (GATED_RESIDUAL: P = gate, Q = y)
// over [B, L, C]; each of X, P, Q is read through (offset, stride_b, stride_l, stride_c) in elements,
// 0 strides broadcasting. Bindings: 0 X, 1 P, 2 Q (f32 storage, read), 3 OUT (f32 storage, contiguous).
// Specialization constant 0: MODULATE_SHIFT_SCALE or MODULATE_GATED_RESIDUAL.
#include "../shaders/interface.h"
#define MODULATE_LOCAL_SIZE 256
#define MODULATE_SHIFT_SCALE 0
#define MODULATE_GATED_RESIDUAL 1
LATTICE_PUSH_BEGIN(ModulatePush)
  LATTICE_U32(numel)
  LATTICE_U32(l)
  LATTICE_U32(c)
  LATTICE_U32_ARRAY(x, 4)  // offset, stride_b, stride_l, stride_c
  LATTICE_U32_ARRAY(p, 4)
  LATTICE_U32_ARRAY(q, 4)
LATTICE_PUSH_END(ModulatePush)
