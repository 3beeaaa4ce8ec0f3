// Interface of image_merge.comp, the only declaration of it (included by the shader and by image_merge.cpp).
// Bindings: 0 A (f32 storage, read, HWC from a_offset), 1 B (f32 storage, read, HWC from b_offset),
// 2 OUT (f32 storage, written contiguous [height, width, 4]). One invocation per output pixel.
#include "../shaders/interface.h"
#define IMAGE_MERGE_LOCAL_SIZE 256
#define IMAGE_MERGE_OVER 0
#define IMAGE_MERGE_ADD 1
#define IMAGE_MERGE_MULTIPLY 2
#define IMAGE_MERGE_SCREEN 3
LATTICE_PUSH_BEGIN(ImageMergePush)
  LATTICE_U32(width)       // of A and OUT
  LATTICE_U32(height)
  LATTICE_U32(a_channels)  // 1..4
  LATTICE_U32(a_offset)
  LATTICE_U32(b_width)
  LATTICE_U32(b_height)
  LATTICE_U32(b_channels)  // 1..4
  LATTICE_U32(b_offset)
  LATTICE_U32(mode)        // IMAGE_MERGE_OVER..IMAGE_MERGE_SCREEN
  LATTICE_F32(mix)
LATTICE_PUSH_END(ImageMergePush)
