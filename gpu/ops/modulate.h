#pragma once
/// The DiT block's adaLN helpers, each one dispatch over x [B, L, C] (f32):
///   modulate(x, shift, scale)    = x·(1 + scale) + shift
///   gated_residual(x, gate, y)   = x + gate·y          (y: [B, L, C], any strides)
/// Modulation vectors (shift, scale, gate) broadcast over tokens: each may be [B, C] or [1, C] (one
/// vector per batch element, NOT NumPy's trailing alignment), [C], or rank 3 broadcastable to [B, L, C]
/// ([B, 1, C] per batch, [B, L, C] per token). Every input may be a strided view (e.g. one chunk of a
/// [B, 6C] projection). Output: a new contiguous f32 tensor [B, L, C]. Rounding matches PyTorch's
/// separate multiply and add (no fused multiply-add): within 1 ulp of the double result per step.
/// Records one dispatch; nothing is submitted.
/// Variants (gpu/variant.h, LATTICE_KERNEL_MODULATE), where C and every offset and stride are multiples of 4
/// with channels contiguous: "texel" on CPU devices (4 channels a texel fetch, one row per workgroup row),
/// else "vec4" (4 channels a storage load); otherwise "portable" (one element per invocation).

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

Tensor modulate(CommandStream& stream, const Tensor& x, const Tensor& shift, const Tensor& scale);
Tensor gated_residual(CommandStream& stream, const Tensor& x, const Tensor& gate, const Tensor& y);

/// The normalisation that norm_modulate applies before modulating: LayerNorm without affine (as
/// layer_norm(x, eps), gpu/ops/norm.h) or RMSNorm without weight (as rms_norm(x, eps)).
enum class RowNorm { Layer, Rms };
/// modulate(norm(x), shift, scale) in one dispatch: the DiT blocks' pre-norm (FLUX's norm1/norm2, Wan's norm1/
/// norm3, LTX's norm1/norm2). x: contiguous f32 [B, L, C] at any offset, normalised over C; shift and scale as in
/// modulate(). Equal to the two ops up to the order of the norm's sums (the same order where both use the same
/// variant); accuracy as layer_norm/rms_norm. Variants (LATTICE_KERNEL_NORM_MODULATE): "texel" on CPU devices
/// under modulate's conditions (x's rows counted as contiguous), else "portable"; one invocation per row.
Tensor norm_modulate(CommandStream& stream, const Tensor& x, RowNorm norm, float eps, const Tensor& shift,
                     const Tensor& scale);

}  // namespace lattice::gpu
