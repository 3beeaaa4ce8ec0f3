// Interface of pad.comp, the only declaration of it (included by the shader and by pad.cpp).
// OUT[o] (contiguous, shape out_shape) = IN[o - before] inside; outside along dim d: `value` when bit d of
// replicate_mask is clear, else the nearest edge element (index clamped). IN is read with in_strides from
// in_offset. Bindings: 0 IN (f32 storage, read), 1 OUT (f32 storage, written).
#include "../shaders/interface.h"
#define PAD_LOCAL_SIZE 256
#define PAD_MAX_RANK 6
LATTICE_PUSH_BEGIN(PadPush)
  LATTICE_U32(numel)
  LATTICE_U32(rank)
  LATTICE_U32(in_offset)
  LATTICE_U32(replicate_mask)
  LATTICE_F32(value)
  LATTICE_U32_ARRAY(out_shape, PAD_MAX_RANK)
  LATTICE_U32_ARRAY(in_shape, PAD_MAX_RANK)
  LATTICE_U32_ARRAY(in_strides, PAD_MAX_RANK)
  LATTICE_U32_ARRAY(before, PAD_MAX_RANK)
LATTICE_PUSH_END(PadPush)
