#pragma once
/// Normalisations: LayerNorm and RMSNorm over the last dimension, GroupNorm over channel groups.
///
/// All take f32 tensors, contiguous (any offset), and return a new contiguous f32 tensor of the input's
/// shape. Optional weight/bias are contiguous f32 vectors; pass an undefined Tensor to leave them out.
/// Statistics are f32, with the variance taken around the mean in a second pass. Accuracy: within
/// 1e-5 absolute + 1e-5 relative of the double-precision definitions for unit-scale data. Each call
/// records one dispatch; nothing is submitted.
/// layer_norm/rms_norm variants (gpu/variant.h, LATTICE_KERNEL_NORM): "texel" on CPU devices where N and every
/// offset are multiples of 4 (rows read as RGBA32F texels; sums in 4 partial lanes), else "portable".

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

/// y = (x - mean) / sqrt(var + eps) * weight + bias over the last dimension N of x [..., N] (biased
/// variance, as torch.nn.LayerNorm). weight, bias: [N] or undefined (FLUX/Wan norms without affine).
Tensor layer_norm(CommandStream& stream, const Tensor& x, float eps, const Tensor& weight = {},
                  const Tensor& bias = {});

/// y = x / sqrt(mean(x^2) + eps) * weight over the last dimension N of x [..., N]; weight [N] or undefined.
/// FLUX's per-head Q/K norm is this on [..., head_dim]; Wan/LTX's across-heads norm on [..., H*D].
Tensor rms_norm(CommandStream& stream, const Tensor& x, float eps, const Tensor& weight = {});
/// The same written into `out`: a contiguous f32 tensor of x's shape at any offset (e.g. a range of rows of
/// a larger tensor, so that a concatenation needs no copy of this part); it must not overlap x.
void rms_norm_into(CommandStream& stream, const Tensor& x, float eps, const Tensor& weight, const Tensor& out);

/// torch.nn.GroupNorm on x [N, C, *] (NCHW, NCDHW, ...): C is split into `groups` groups of C/groups
/// consecutive channels, each normalised over its channels and all positions; then y * weight[c] + bias[c]
/// when weight and bias [C] are given (both or neither).
Tensor group_norm(CommandStream& stream, const Tensor& x, int64_t groups, float eps, const Tensor& weight = {},
                  const Tensor& bias = {});

}  // namespace lattice::gpu
