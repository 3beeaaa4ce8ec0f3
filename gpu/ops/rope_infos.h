// Interface of rope.comp, the only declaration of it (included by the shader and by rope.cpp).
// X is rows of `channels` values (row r is token r % seq of its batch), contiguous from x_offset; COS and
// SIN are [seq, width] contiguous tables; channel c uses table column c % width, so width = head dim
// rotates every head alike and width = channels rotates the whole inner dim. One invocation per rotated
// pair (c0, c1) within a width-chunk: ROPE_INTERLEAVED pairs (2k, 2k+1), ROPE_HALF_SPLIT (k, k + width/2).
// Y[c0] = X[c0]*COS[c0] - X[c1]*SIN[c0], Y[c1] = X[c1]*COS[c1] + X[c0]*SIN[c1].
// Bindings: 0 X, 1 COS, 2 SIN (f32 storage, read), 3 Y (f32 storage, written contiguous).
// Specialization constant 0: PAIRING.
#include "../shaders/interface.h"
#define ROPE_LOCAL_SIZE 64
#define ROPE_INTERLEAVED 0
#define ROPE_HALF_SPLIT 1
LATTICE_PUSH_BEGIN(RopePush)
  LATTICE_U32(pairs)  // rows * channels / 2
  LATTICE_U32(seq)
  LATTICE_U32(channels)
  LATTICE_U32(width)
  LATTICE_U32(x_offset)
  LATTICE_U32(cos_offset)
  LATTICE_U32(sin_offset)
LATTICE_PUSH_END(RopePush)
