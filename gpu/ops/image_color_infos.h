// Interface of image_color.comp, the only declaration of it (included by the shader and by image_color.cpp).
// Bindings: 0 IN (f32 storage, read, HWC interleaved from in_offset), 1 OUT (f32 storage, written contiguous).
// One invocation per pixel; channels is 1..4 (colour channels are the first 3 when channels >= 3, else 1).
#include "../shaders/interface.h"
#define IMAGE_COLOR_LOCAL_SIZE 256
LATTICE_PUSH_BEGIN(ImageColorPush)
  LATTICE_U32(pixels)
  LATTICE_U32(channels)
  LATTICE_U32(in_offset)
  LATTICE_F32(gain)        // 2^exposure, computed on the host so both twins use the same f32
  LATTICE_F32(inv_gamma)   // 1 / gamma, likewise
  LATTICE_F32(saturation)
LATTICE_PUSH_END(ImageColorPush)
