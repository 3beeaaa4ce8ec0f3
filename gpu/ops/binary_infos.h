// Interface of binary.comp, the only declaration of it (included by the shader and by binary.cpp).
// Bindings: 0 A (f32 storage, read), 1 B (f32 storage, read), 2 OUT (f32 storage, written contiguous).
// Specialization constant 0: operation (BINARY_ADD..BINARY_DIV). OUT = (alpha * A) op (beta * B), each product
// and the op rounded separately (`precise`), so alpha = beta = 1 is the plain op bit for bit.
#include "../shaders/interface.h"
#define BINARY_LOCAL_SIZE 256
#define BINARY_MAX_RANK 6
#define BINARY_ADD 0
#define BINARY_SUB 1
#define BINARY_MUL 2
#define BINARY_DIV 3
LATTICE_PUSH_BEGIN(BinaryPush)
  LATTICE_U32(numel)
  LATTICE_U32(rank)
  LATTICE_U32(a_offset)
  LATTICE_U32(b_offset)
  LATTICE_F32(alpha)
  LATTICE_F32(beta)
  LATTICE_U32_ARRAY(shape, BINARY_MAX_RANK)
  LATTICE_U32_ARRAY(a_strides, BINARY_MAX_RANK)  // 0 where A is broadcast
  LATTICE_U32_ARRAY(b_strides, BINARY_MAX_RANK)
LATTICE_PUSH_END(BinaryPush)
