#pragma once
/// Elementwise activations: GELU (exact erf form and tanh approximation), SiLU and exp.
///
/// Input: an f32 tensor, contiguous (any offset). Output: a new contiguous f32 tensor of the same shape.
/// Accuracy: within 1e-6 absolute + 1e-5 relative of the double-precision definitions. Records one
/// dispatch; nothing is submitted.

#include <cstdint>

#include "gpu/ops/activation_infos.h"
#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

/// The activations of gpu/ops/activation_infos.h (the one list, shared with the shaders): GeluErf, GeluTanh, Silu, Exp.
enum class UnaryOp : uint32_t {
#define LATTICE_UNARY_OP(name, fn, id) name = id,
  LATTICE_ACTIVATIONS(LATTICE_UNARY_OP)
#undef LATTICE_UNARY_OP
};
/// Every activation, in the list's order (tests run each).
inline constexpr UnaryOp kUnaryOps[] = {
#define LATTICE_UNARY_OP(name, fn, id) UnaryOp::name,
    LATTICE_ACTIVATIONS(LATTICE_UNARY_OP)
#undef LATTICE_UNARY_OP
};

Tensor unary(CommandStream& stream, UnaryOp op, const Tensor& x);
inline Tensor gelu(CommandStream& s, const Tensor& x) { return unary(s, UnaryOp::GeluErf, x); }
inline Tensor gelu_tanh(CommandStream& s, const Tensor& x) { return unary(s, UnaryOp::GeluTanh, x); }
inline Tensor silu(CommandStream& s, const Tensor& x) { return unary(s, UnaryOp::Silu, x); }

}  // namespace lattice::gpu
