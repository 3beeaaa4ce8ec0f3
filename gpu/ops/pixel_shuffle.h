#pragma once
/// Depth-to-space (torch.pixel_shuffle) and space-to-depth (torch.pixel_unshuffle), generalised to 1..3
/// spatial dims with one factor each; channel index c·(r1·..·rk) + offset, offsets row-major in
/// (r1, .., rk) — torch's order for 2-D, and LTX-Video's (c, t, h, w) order for its 3-D up/downsamplers.
///   depth_to_space: x [N, C·∏r, S1..Sk] → [N, C, S1·r1, ..], out[n, c, s·r + o] = x[n, c·∏r + o, s]
///   space_to_depth: the inverse, [N, C, S1·r1, ..] → [N, C·∏r, S1..Sk]
/// Any dtype copy.h supports, any strides; exact. Views plus one copy dispatch; nothing is submitted.

#include <span>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

Tensor depth_to_space(CommandStream& stream, const Tensor& x, std::span<const int64_t> factors);
Tensor space_to_depth(CommandStream& stream, const Tensor& x, std::span<const int64_t> factors);
inline Tensor pixel_shuffle(CommandStream& stream, const Tensor& x, int64_t r) {
  const int64_t f[] = {r, r};
  return depth_to_space(stream, x, f);
}
inline Tensor pixel_unshuffle(CommandStream& stream, const Tensor& x, int64_t r) {
  const int64_t f[] = {r, r};
  return space_to_depth(stream, x, f);
}

}  // namespace lattice::gpu
