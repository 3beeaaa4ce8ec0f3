#pragma once
/// Concatenation along one axis (torch.cat). The inverse, split, is a set of views: see copy.h.
///
/// Contract. Inputs: one or more tensors of one dtype (f32/f16/bf16), any strides, equal shapes except
/// along `dim` (negative counts from the end). Output: a new contiguous tensor of that dtype. Records one
/// copy dispatch per non-empty input, each writing its slice of the output; nothing is submitted.

#include <span>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

Tensor concat(CommandStream& stream, std::span<const Tensor> inputs, int dim);
inline Tensor concat(CommandStream& stream, std::initializer_list<Tensor> inputs, int dim) {
  return concat(stream, std::span<const Tensor>(inputs.begin(), inputs.size()), dim);
}

}  // namespace lattice::gpu
