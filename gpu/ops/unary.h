#pragma once
/// Elementwise activations: GELU (exact erf form and tanh approximation), SiLU and exp, each with an optional
/// scale of its argument and bounds on its result: y = clamp(f(scale · x), lo, hi); clamp() is the identity so.
///
/// Input: an f32 tensor, contiguous (any offset). Output: a new contiguous f32 tensor of the same shape.
/// Accuracy: within 1e-6 absolute + 1e-5 relative of the double-precision definitions; scale · x is one f32
/// multiply (so exp with scale 0.5 equals mul by 0.5 then exp bit for bit) and the bounds are exact. NaN stays
/// NaN through the bounds (as torch.clamp); ±inf clamps to the bound. Records one dispatch; nothing is submitted.

#include <cstdint>
#include <limits>

#include "gpu/ops/activation_infos.h"
#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

/// The activations of gpu/ops/activation_infos.h (the one list, shared with the shaders): GeluErf, GeluTanh, Silu, Exp;
/// and Identity (no activation: scale and bounds only).
enum class UnaryOp : uint32_t {
  Identity = LATTICE_ACT_NONE,
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

/// What unary() applies around its function: y = clamp(f(scale · x), lo, hi).
struct UnaryParams {
  float scale = 1.0f;  ///< multiplies the argument (exp(0.5 · logvar): a standard deviation from a log-variance)
  float lo = -std::numeric_limits<float>::infinity();  ///< bounds of the result: lo <= hi, neither NaN
  float hi = std::numeric_limits<float>::infinity();
};

/// Throws Unsupported for a tensor that is not contiguous f32, or for bounds that are NaN or lo > hi.
Tensor unary(CommandStream& stream, UnaryOp op, const Tensor& x, const UnaryParams& params = {});
/// x limited to [lo, hi], NaN kept (torch.clamp).
inline Tensor clamp(CommandStream& s, const Tensor& x, float lo, float hi) {
  return unary(s, UnaryOp::Identity, x, {.lo = lo, .hi = hi});
}
inline Tensor gelu(CommandStream& s, const Tensor& x) { return unary(s, UnaryOp::GeluErf, x); }
inline Tensor gelu_tanh(CommandStream& s, const Tensor& x) { return unary(s, UnaryOp::GeluTanh, x); }
inline Tensor silu(CommandStream& s, const Tensor& x) { return unary(s, UnaryOp::Silu, x); }

}  // namespace lattice::gpu
