// Interface of timestep_embedding.comp, the only declaration of it (included by the shader and by
// timestep_embedding.cpp). OUT[b, j] for b < batch, j < channels (contiguous); T read as t[t_offset + b*t_stride].
// Bindings: 0 T (f32 storage, read), 1 OUT (f32 storage, written).
#include "../shaders/interface.h"
#define TIMESTEP_LOCAL_SIZE 256
LATTICE_PUSH_BEGIN(TimestepPush)
  LATTICE_U32(batch)
  LATTICE_U32(channels)
  LATTICE_U32(t_offset)
  LATTICE_U32(t_stride)
  LATTICE_U32(flip_sin_to_cos)  // 0: [sin, cos]; 1: [cos, sin]
  LATTICE_F32(downscale_freq_shift)
  LATTICE_F32(scale)
LATTICE_PUSH_END(TimestepPush)
