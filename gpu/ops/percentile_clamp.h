#pragma once
/// Clamping at a percentile, per sample (dynamic thresholding, as Imagen's without the division by s):
/// for each row b of x (dim 0; the rest of the dimensions flattened), s_b = max(floor_value, q_b) where q_b is
/// the `percentile` (0..100) of |x_b| by the linear rule of numpy.quantile and torch.quantile (their default):
/// rank = percentile/100 * (n-1) in double, the sorted values at floor(rank) and the next lerped by the
/// fraction (in f32, numpy's two-sided _lerp: a + (b-a)*t below t = 0.5, b - (b-a)*(1-t) from there). Out:
/// clamp(x_b, -s_b, s_b), a new contiguous tensor of x's shape.
///
/// Input: a contiguous f32 tensor of rank >= 1 with at least one element per row, finite values expected
/// (NaNs sort above +inf). Exact: the order statistics are selected, not estimated, so the result equals a
/// sort-based reference bit for bit. Bad arguments: Error (DeviceError Unsupported) naming the tensor.
/// Cost: one workgroup per row makes five passes over the row (radix select of 8 bits per pass, one more
/// for the value above) and one to clamp. Records one dispatch; nothing is submitted.

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

Tensor percentile_clamp(CommandStream& stream, const Tensor& x, double percentile, float floor_value = 1.0f);

}  // namespace lattice::gpu
