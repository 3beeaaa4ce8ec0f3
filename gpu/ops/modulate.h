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

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

Tensor modulate(CommandStream& stream, const Tensor& x, const Tensor& shift, const Tensor& scale);
Tensor gated_residual(CommandStream& stream, const Tensor& x, const Tensor& gate, const Tensor& y);

}  // namespace lattice::gpu
