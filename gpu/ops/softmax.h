#pragma once
/// Softmax over the last dimension, numerically stable (the row maximum is subtracted before exp).
///
/// softmax: an f32 tensor [..., N], contiguous (any offset). Output: a new contiguous f32 tensor of the same
/// shape. A row whose every entry is -inf gives zeros (PyTorch gives NaN); +inf entries give NaN, as in
/// PyTorch. Accuracy: within 1e-6 absolute + 1e-5 relative of the double-precision definition. Records one
/// dispatch; nothing is submitted.
///
/// softmax_rows_inplace: attention's row softmax over a score matrix, in place. x: an f32 [R, W] view with
/// a contiguous last dimension, rows evenly strided; W, the row stride and the offset multiples of 4 (it is
/// read and written as texels). Row r becomes softmax(scale * x[r, :n] + mask) in its first n <= W columns
/// and 0 in the rest (padding that a following product may read). mask: an additive contiguous f32 [n], or
/// undefined. The same rules for -inf rows and the same accuracy; one dispatch.

#include <cstdint>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

Tensor softmax(CommandStream& stream, const Tensor& x);

void softmax_rows_inplace(CommandStream& stream, const Tensor& x, int64_t n, float scale = 1.0f, const Tensor& mask = {});

}  // namespace lattice::gpu
