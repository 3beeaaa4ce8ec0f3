// Interface of noise.comp, the only declaration of it (included by the shader and by noise.cpp).
// Bindings: 0 OUT (f32 storage, written from out_offset). Each invocation makes one Philox block, i.e.
// four consecutive elements (see noise_math.h for the mapping).
#include "../shaders/interface.h"
#define NOISE_LOCAL_SIZE 64
LATTICE_PUSH_BEGIN(NoisePush)
  LATTICE_U32(seed_lo)
  LATTICE_U32(seed_hi)
  LATTICE_U32(offset_lo)  // Philox block counter of element 0
  LATTICE_U32(offset_hi)
  LATTICE_U32(numel)
  LATTICE_U32(out_offset)
LATTICE_PUSH_END(NoisePush)
