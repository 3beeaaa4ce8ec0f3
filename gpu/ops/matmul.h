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
///
/// Packed weights (MatmulWeights below) are read by the texel variant alone: made once where weights are
/// uploaded (nodes/models/nn.h DeviceWeights) on devices where matmul_packs_weights() holds.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gpu/ops/unary.h"
#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;
class Device;

/// Weights B [N, K] for matmul, plain (row-major; any Tensor converts implicitly) or packed for the texel
/// kernel. That kernel's workgroup owns 128 consecutive output columns (MATMUL_TEXEL_LOCAL x TN) and reads,
/// per k-step, one 16-byte texel (16 / element-bytes consecutive k) from each of those 128 rows of B; as
/// [N, K] those rows lie K * bytes apart, a cache line each. Packed, column block c (rows 128c .. 128c + w - 1,
/// w = min(128, N - 128c)) is stored as [K / step][w] texels, blocks one after another: a step's texels are
/// contiguous, the tensor keeps exactly N * K elements (no padding), shape [N, K] and dtype, but its
/// elements are in packed order: only matmul reads it (to_floats() unpacks).
struct MatmulWeights {
  Tensor tensor;
  bool packed = false;
  MatmulWeights() = default;
  MatmulWeights(Tensor t, bool is_packed = false) : tensor(std::move(t)), packed(is_packed) {}  // NOLINT: implicit
  bool defined() const { return tensor.defined(); }
  int64_t dim(int i) const { return tensor.dim(i); }
  DType dtype() const { return tensor.dtype(); }
  uint64_t bytes() const { return tensor.bytes(); }
  std::string describe() const { return tensor.describe() + (packed ? " packed" : ""); }
  /// Downloads B as row-major floats [N, K] (unpacked).
  std::vector<float> to_floats() const;
};

/// Whether weights [n, k] of `dtype` are best packed on `device`: a CPU device where the texel variant reads
/// them (k a whole number of texels, the texel formats, sizes within the limits), unless
/// LATTICE_KERNEL_MATMUL forces a variant other than "texel" or LATTICE_MATMUL_PACK=0 (to compare layouts).
bool matmul_packs_weights(const Device& device, DType dtype, int64_t n, int64_t k);
/// Reorders row-major B [n, k] of `dtype` (bytes) into the packed order (`dst` has src's size; k must be a
/// multiple of 16 / dtype_bytes), and back.
void pack_matmul_weights(std::span<const std::byte> src, std::span<std::byte> dst, int64_t n, int64_t k, DType dtype);
void unpack_matmul_weights(std::span<const std::byte> src, std::span<std::byte> dst, int64_t n, int64_t k, DType dtype);
/// Uploads row-major B [n, k] bytes of `dtype`, packed where matmul_packs_weights() says so.
MatmulWeights upload_matmul_weights(Context& context, std::span<const std::byte> bytes, int64_t n, int64_t k, DType dtype);

Tensor matmul(CommandStream& stream, const Tensor& a, const MatmulWeights& b, const Tensor& bias = {},
              std::string_view variant = {}, std::optional<UnaryOp> activation = std::nullopt);
/// The same into `out`: an f32 view of A's shape with N as last dimension, whose last dimension is
/// contiguous and whose rows (all other dimensions flattened) are evenly strided, like
/// narrow(wide, -1, start, N) of a contiguous tensor. It must not overlap A, B or bias.
void matmul_into(CommandStream& stream, const Tensor& a, const MatmulWeights& b, const Tensor& bias, const Tensor& out,
                 std::optional<UnaryOp> activation = std::nullopt, std::string_view variant = {});

}  // namespace lattice::gpu
