#pragma once
/// Softmax over the last dimension, numerically stable (the row maximum is subtracted before exp).
///
/// Input: an f32 tensor [..., N], contiguous (any offset). Output: a new contiguous f32 tensor of the same
/// shape. A row whose every entry is -inf gives zeros (PyTorch gives NaN); +inf entries give NaN, as in
/// PyTorch. Accuracy: within 1e-6 absolute + 1e-5 relative of the double-precision definition. Records one
/// dispatch; nothing is submitted.

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

Tensor softmax(CommandStream& stream, const Tensor& x);

}  // namespace lattice::gpu
