// Interface of percentile_clamp.comp, the only declaration of it (included by the shader and by
// percentile_clamp.cpp). Per row r of X (rows of n contiguous floats from in_offset): a = the order
// statistics `below` and `above` (0-based, ascending) of |X[r, :]|, q = a_below lerped to a_above by `frac`
// (numpy's two-sided _lerp), s = max(floor_value, q); Y[r, :] = clamp(X[r, :], -s, s).
// Bindings: 0 X (f32 storage, read), 1 Y (f32 storage, written contiguous). One workgroup per row, laid out
// by grid_rows(rows, 1); the local size equals the radix's 256 bins.
#include "../shaders/interface.h"
#define PERCENTILE_CLAMP_LOCAL_SIZE 256
LATTICE_PUSH_BEGIN(PercentileClampPush)
  LATTICE_U32(rows)
  LATTICE_U32(n)
  LATTICE_U32(in_offset)
  LATTICE_U32(below)
  LATTICE_U32(above)
  LATTICE_F32(frac)
  LATTICE_F32(floor_value)
LATTICE_PUSH_END(PercentileClampPush)
