// Interface of softmax.comp, the only declaration of it (included by the shader and by softmax.cpp).
// Y[r, :] = softmax(X[r, :]) over rows of length n. Bindings: 0 X (f32 storage, read, rows contiguous from
// in_offset), 1 Y (f32 storage, written contiguous). One invocation per row.
#include "../shaders/interface.h"
#define SOFTMAX_LOCAL_SIZE 64
LATTICE_PUSH_BEGIN(SoftmaxPush)
  LATTICE_U32(rows)
  LATTICE_U32(n)
  LATTICE_U32(in_offset)
LATTICE_PUSH_END(SoftmaxPush)
