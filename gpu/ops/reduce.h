#pragma once
/// Sum, mean, max and L1 norm (sum of |x|) over one axis (torch.sum/mean/amax, torch.linalg.vector_norm(ord=1)
/// with a single dim).
///
/// Input: an f32 tensor of rank 1..7, any strides; `dim` may be negative (counts from the end). Output: a
/// new contiguous f32 tensor, x's shape with `dim` removed, or kept with extent 1 when `keepdim` (same
/// elements either way, so the two differ only in shape). A rank-1 input without keepdim gives shape [1]
/// (this runtime has no rank-0 tensors). An empty axis gives 0 (sum, L1), NaN (mean) or -inf (max).
/// Accuracy: sums (also L1's) are Kahan-compensated, within 1e-6 relative of the exact sum for well-conditioned data;
/// mean = sum / n (f32 division); max is exact and NaN-propagating (any NaN in the slice gives NaN).
/// One invocation per output element, looping over the axis: fast when there are many outputs, serial in
/// the axis length. Records one dispatch; nothing is submitted.

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

enum class ReduceOp { Sum, Mean, Max, L1 };

Tensor reduce(CommandStream& stream, ReduceOp op, const Tensor& x, int dim, bool keepdim = false);
inline Tensor sum(CommandStream& s, const Tensor& x, int dim, bool keepdim = false) {
  return reduce(s, ReduceOp::Sum, x, dim, keepdim);
}
inline Tensor mean(CommandStream& s, const Tensor& x, int dim, bool keepdim = false) {
  return reduce(s, ReduceOp::Mean, x, dim, keepdim);
}
inline Tensor max(CommandStream& s, const Tensor& x, int dim, bool keepdim = false) {
  return reduce(s, ReduceOp::Max, x, dim, keepdim);
}
inline Tensor l1(CommandStream& s, const Tensor& x, int dim, bool keepdim = false) {
  return reduce(s, ReduceOp::L1, x, dim, keepdim);
}

}  // namespace lattice::gpu
