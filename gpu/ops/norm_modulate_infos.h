// Interface of norm_modulate.comp, the only declaration of it (included by the shader and by modulate.cpp).
// OUT[b, l, c] = N[b, l, c] * (1 + SCALE[b, l, c]) + SHIFT[b, l, c] where N is row (b, l) of X normalised over C
// without affine: LayerNorm (NORM_MODULATE_LAYER) or RMSNorm (NORM_MODULATE_RMS), statistics as norm.comp's.
// X rows are contiguous from x_offset (row r = b * l + l'); SCALE and SHIFT are read through (offset, stride_b,
// stride_l, stride_c) in elements, 0 strides broadcasting (as modulate_infos.h). One invocation per row.
// Bindings: 0 X, 1 SCALE, 2 SHIFT (f32 storage, read; RGBA32F texel buffers with TEXEL_IO), 3 OUT (f32
// storage, written contiguous). Specialization constant 0: MODE.
#include "../shaders/interface.h"
#define NORM_MODULATE_LOCAL_SIZE 64
#define NORM_MODULATE_LAYER 0
#define NORM_MODULATE_RMS 1
LATTICE_PUSH_BEGIN(NormModulatePush)
  LATTICE_U32(rows)
  LATTICE_U32(l)
  LATTICE_U32(c)
  LATTICE_U32(x_offset)
  LATTICE_F32(eps)
  LATTICE_U32_ARRAY(scale, 4)  // offset, stride_b, stride_l, stride_c
  LATTICE_U32_ARRAY(shift, 4)
LATTICE_PUSH_END(NormModulatePush)
