#pragma once
/// Matrix product with transposed weights, the linear layer: C = act(A * B^T (+ bias)).
///
/// A: f32 [..., K], contiguous. B (weights): [N, K] in f32, f16, bf16, f8e4m3fn or f8e5m2, contiguous,
/// decoded exactly inside the kernel (no converted copy of the weights is made). bias: f32 [N] or an
/// undefined Tensor. Result: a new f32 tensor [..., N]. Accumulation is f32. Records one dispatch.
/// Epilogue: an optional activation (gpu/ops/unary.h's, the same arithmetic) applied to each output after
/// the bias, so that a linear + activation costs one pass over C instead of two. matmul_into writes the
/// result into a view instead of a new tensor (e.g. a column range of a wider tensor, saving a concat).
///
/// Variants (gpu/variant.h; LATTICE_KERNEL_MATMUL or `variant` forces one), best first:
///  - "coopmat_nv": NVIDIA tensor cores via VK_NV_cooperative_matrix, f16 weights, A rounded to f16, f32
///    accumulation; needs Device's cooperative_matrix_nv_f16, subgroup size 32, M, N, K multiples of 16.
///    Compiled and selected by construction but not yet run on NVIDIA hardware.
///  - "texel": A and B through uniform texel buffers (RGBA, 4 k per fetch), a 16 x 16 output tile per
///    invocation, no shared memory; needs K and B's offset to be multiples of the weights per 16 bytes
///    (4 f32, 8 f16/bf16, 16 fp8), A's offset a multiple of 4, the formats'
///    texel-buffer support and sizes within maxTexelBufferElements. Chosen on CPU devices (lavapipe), where
///    it is about 15x faster than "portable" (docs/performance.md, "Matmul on lavapipe").
///  - "portable": storage buffers, 4x4 register tile; applies everywhere.

#include <string_view>

#include <optional>

#include "gpu/ops/unary.h"
#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

Tensor matmul(CommandStream& stream, const Tensor& a, const Tensor& b, const Tensor& bias = {},
              std::string_view variant = {}, std::optional<UnaryOp> activation = std::nullopt);
/// The same into `out`: an f32 view of A's shape with N as last dimension, whose last dimension is
/// contiguous and whose rows (all other dimensions flattened) are evenly strided, like
/// narrow(wide, -1, start, N) of a contiguous tensor. It must not overlap A, B or bias.
void matmul_into(CommandStream& stream, const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out,
                 std::optional<UnaryOp> activation = std::nullopt, std::string_view variant = {});

}  // namespace lattice::gpu
