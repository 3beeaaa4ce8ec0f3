// Interface of group_norm.comp, the only declaration of it (included by the shader and by norm.cpp).
// One workgroup of GROUP_NORM_LOCAL_SIZE per (batch, group): group g's channels_per_group * spatial values
// are contiguous from in_offset + g * channels_per_group * spatial. Bindings: 0 X, 1 WEIGHT, 2 BIAS (f32
// storage, read; WEIGHT/BIAS unused without AFFINE), 3 Y (f32 storage, written contiguous); WEIGHT and BIAS are per channel [channels]. Specialization constant 0 AFFINE.
#include "../shaders/interface.h"
#define GROUP_NORM_LOCAL_SIZE 256
LATTICE_PUSH_BEGIN(GroupNormPush)
  LATTICE_U32(groups)          // batch * groups: the number of workgroups
  LATTICE_U32(groups_per_batch)
  LATTICE_U32(channels_per_group)
  LATTICE_U32(spatial)         // product of the dimensions after the channel
  LATTICE_U32(in_offset)
  LATTICE_U32(weight_offset)
  LATTICE_U32(bias_offset)
  LATTICE_F32(eps)
LATTICE_PUSH_END(GroupNormPush)
