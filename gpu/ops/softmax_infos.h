// Interface of softmax.comp, the only declaration of it (included by the shader and by softmax.cpp).
// Built twice from one source (gpu/CMakeLists.txt):
//  - plain: Y[r, :] = softmax(X[r, :]) over rows of length n. Bindings: 0 X (f32 storage, read, rows
//    contiguous from in_offset), 1 Y (f32 storage, written contiguous). ld, scale, mask_offset and width unused.
//  - SOFTMAX_ROWS4 ("softmax_rows4"), in place: X[r, :] = softmax(scale * X[r, :n] + MASK[:n]) over rows ld
//    elements apart from in_offset (ld, width and in_offset multiples of 4, n <= width <= ld), the row's columns
//    n .. width - 1 set to 0; read and written as vec4. Bindings: 0 X (vec4 storage, read and written), 1 MASK (f32
//    storage from mask_offset, [n]; read only with specialization constant 0 HAS_MASK = 1).
// One invocation per row.
#include "../shaders/interface.h"
#define SOFTMAX_LOCAL_SIZE 64
LATTICE_PUSH_BEGIN(SoftmaxPush)
  LATTICE_U32(rows)
  LATTICE_U32(n)
  LATTICE_U32(in_offset)
  LATTICE_U32(ld)
  LATTICE_F32(scale)
  LATTICE_U32(mask_offset)
  LATTICE_U32(width)
LATTICE_PUSH_END(SoftmaxPush)
