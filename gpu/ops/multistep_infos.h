// Interface of multistep.comp, the only declaration of it (included by the shader and by multistep.cpp).
// One step of a predictor-corrector linear multistep sampler (UniPC), elementwise over numel values:
//   M  = X + neg_convert·V                                        (the data estimate)
//   XC = c_last·L + c_estimate·M + Σ_k c_history[k]·H[k]          (when corrector != 0; else XC is X, not written)
//   Y  = p_sample·XC + p_estimate·M + Σ_k p_history[k]·H[k]       (the next sample)
// each sum rounded term by term in that order, terms with coefficient 0 skipped (as separate mul/add ops did).
// Bindings: 0 X, 1 V, 2 L, 3..6 H[0..3] (f32 storage, read from their offsets; unused ones bound to X),
// 7 M, 8 XC, 9 Y (f32 storage, written contiguous from 0; XC bound to Y without a corrector).
#include "../shaders/interface.h"
#define MULTISTEP_LOCAL_SIZE 256
#define MULTISTEP_MAX_HISTORY 4
LATTICE_PUSH_BEGIN(MultistepPush)
  LATTICE_U32(numel)
  LATTICE_U32(corrector)  // 0 or 1
  LATTICE_U32(c_count)    // history terms of the corrector, <= MULTISTEP_MAX_HISTORY
  LATTICE_U32(p_count)    // history terms of the predictor
  LATTICE_U32(x_offset)
  LATTICE_U32(v_offset)
  LATTICE_U32(l_offset)
  LATTICE_U32_ARRAY(h_offset, 4)
  LATTICE_F32(neg_convert)
  LATTICE_F32(c_last)
  LATTICE_F32(c_estimate)
  LATTICE_F32(p_sample)
  LATTICE_F32(p_estimate)
  LATTICE_U32_ARRAY(c_history, 4)  // f32 bits (the push macros have no float arrays)
  LATTICE_U32_ARRAY(p_history, 4)
LATTICE_PUSH_END(MultistepPush)
