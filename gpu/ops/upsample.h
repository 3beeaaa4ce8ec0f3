#pragma once
/// Nearest-neighbour upsampling by integer factors (torch.nn.functional.interpolate(mode="nearest") with
/// integer scale factors): out[n, c, i1, .., ik] = x[n, c, i1 / f1, .., ik / fk].
///
/// Input: x [N, C, S1..Sk] with k = factors.size() in 1..3 (NCW, NCHW, NCDHW), f32/f16/bf16, any strides.
/// Output: a new contiguous tensor of x's dtype, [N, C, S1·f1, ..]. Exact. Implemented as a broadcast view
/// (stride 0 over each factor) materialised by one copy dispatch (copy.h); nothing is submitted.

#include <span>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

Tensor upsample_nearest(CommandStream& stream, const Tensor& x, std::span<const int64_t> factors);
inline Tensor upsample_nearest(CommandStream& stream, const Tensor& x, std::initializer_list<int64_t> factors) {
  return upsample_nearest(stream, x, std::span<const int64_t>(factors.begin(), factors.size()));
}

}  // namespace lattice::gpu
