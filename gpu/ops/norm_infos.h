// Interface of norm.comp (layer/RMS norm over the last dimension), the only declaration of it (included by
// the shader and by norm.cpp; group_norm.comp's is group_norm_infos.h). Offsets are in elements.
// One invocation per row of length n. Bindings: 0 X (f32 storage, rows contiguous from in_offset), 1 WEIGHT [n] (f32 storage; unused without HAS_WEIGHT), 2 BIAS [n] (f32 storage; unused
// without HAS_BIAS), 3 Y (f32 storage, rows written contiguous from out_offset). Specialization constants: 0 MODE
// (NORM_LAYER/NORM_RMS), 1 HAS_WEIGHT, 2 HAS_BIAS.
#include "../shaders/interface.h"
#define NORM_LOCAL_SIZE 64
#define NORM_LAYER 0
#define NORM_RMS 1
LATTICE_PUSH_BEGIN(NormPush)
  LATTICE_U32(rows)
  LATTICE_U32(n)
  LATTICE_U32(in_offset)
  LATTICE_U32(weight_offset)
  LATTICE_U32(bias_offset)
  LATTICE_F32(eps)
  LATTICE_U32(out_offset)
LATTICE_PUSH_END(NormPush)
