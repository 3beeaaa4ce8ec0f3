#pragma once
/// Elementwise binary ops with NumPy broadcasting: out = a (op) b, optionally of scaled operands.
///
/// Inputs: f32 tensors of rank <= 6 with any strides (views are fine); shapes broadcast as in NumPy (align
/// trailing dimensions; a dimension of 1 stretches). Output: a new contiguous f32 tensor of the broadcast
/// shape. Division follows IEEE (x/0 is inf or NaN). Records one dispatch; nothing is submitted.
/// Variants (gpu/variant.h, LATTICE_KERNEL_BINARY): "texel" on CPU devices where the last dimension is a
/// multiple of 4 and contiguous in both operands, the other strides and the offsets multiples of 4 (4 elements
/// a texel fetch), else "portable".

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

enum class BinaryOp { Add, Sub, Mul, Div };

/// The broadcast shape of `a` and `b`; throws Unsupported naming both when they do not broadcast.
Shape broadcast_shape(const Shape& a, const Shape& b);

/// out = (alpha · a) op (beta · b): each product and the op rounded on their own (no fused multiply-add), so
/// the coefficients cost nothing in accuracy and 1, 1 is the plain op bit for bit. Scalars as coefficients
/// need no 1-element tensor uploaded per call.
Tensor binary(CommandStream& stream, BinaryOp op, const Tensor& a, const Tensor& b, float alpha = 1.0f, float beta = 1.0f);
/// alpha · a + beta · b (e.g. an Euler step x + dt · v, or a blend).
inline Tensor axpby(CommandStream& s, float alpha, const Tensor& a, float beta, const Tensor& b) {
  return binary(s, BinaryOp::Add, a, b, alpha, beta);
}
inline Tensor add(CommandStream& s, const Tensor& a, const Tensor& b) { return binary(s, BinaryOp::Add, a, b); }
inline Tensor sub(CommandStream& s, const Tensor& a, const Tensor& b) { return binary(s, BinaryOp::Sub, a, b); }
inline Tensor mul(CommandStream& s, const Tensor& a, const Tensor& b) { return binary(s, BinaryOp::Mul, a, b); }
inline Tensor div(CommandStream& s, const Tensor& a, const Tensor& b) { return binary(s, BinaryOp::Div, a, b); }

}  // namespace lattice::gpu
