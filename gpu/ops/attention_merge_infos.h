// Interface of attention_merge.comp, the only declaration of it (included by the shader and by attention_merge.cpp).
// Folds one attention partial (O2, LSE2) into an accumulated one (O1, LSE1), in place, one invocation per row
// (a row is one query of one head: D values of O and one LSE): with m = max(lse1, lse2), w = exp(lse - m),
//   O1 = (w1 O1 + w2 O2) / (w1 + w2),  LSE1 = m + log(w1 + w2);
// rows whose two LSEs are both -inf (no key with a finite score yet) stay zeros with LSE -inf.
// Bindings (f32 storage, contiguous): 0 O1 [rows, D] (read and written), 1 LSE1 [rows] (read and written),
// 2 O2 [rows, D], 3 LSE2 [rows]. Specialization constant 0: D (the row length; the shader loops over it).
#include "../shaders/interface.h"
#define ATTENTION_MERGE_LOCAL_SIZE 64
LATTICE_PUSH_BEGIN(AttentionMergePush)
  LATTICE_U32(rows)
LATTICE_PUSH_END(AttentionMergePush)
