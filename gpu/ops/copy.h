#pragma once
/// Data movement through strided views: copy between views with dtype conversion, contiguous, cast, and
/// the view constructors (permute, narrow, split, expand) whose results copy() materialises.
///
/// Contract. Views are free (no GPU work): they share the buffer and only change shape/strides/offset.
/// copy_into/contiguous/cast record one dispatch into the stream; nothing is submitted. Supported element
/// types: f32, f16, bf16 (16-bit types held as words and converted in the shader, rounding to nearest even
/// exactly like gpu/dtype.h's host conversions; same-type copies move bits unchanged). Views may have any
/// non-negative strides (0 = broadcast) and rank up to 8 after coalescing: size-1 dimensions are dropped
/// and dimensions that are contiguous in both source and destination are merged, so most higher-rank
/// rearrangements fit. Element indices must fit in 32 bits.
/// Variants (gpu/variant.h, LATTICE_KERNEL_COPY): "texel" on CPU devices for f32 to f32 copies whose innermost
/// (merged) dimension is contiguous on both sides, with that size, every other stride and both offsets
/// multiples of 4 and the source within one texel buffer (4 elements an invocation: an RGBA32F texel fetch and a
/// vec4 store, bit-exact); "portable" otherwise.

#include <span>
#include <vector>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

/// Writes src's elements into `dst` (same shape; any dtypes of f32/f16/bf16). `dst` is usually a view of
/// a larger tensor (a concat slice); it must not have overlapping elements (no 0 stride over size > 1),
/// and must not overlap `src` in memory.
void copy_into(CommandStream& stream, const Tensor& src, const Tensor& dst);
/// A contiguous tensor with x's values and dtype. Returns x itself (no copy) when it is already
/// contiguous, as torch's .contiguous() does.
Tensor contiguous(CommandStream& stream, const Tensor& x);
/// A new contiguous tensor of `dtype` with x's values converted (a copy even when the dtype is the same).
Tensor cast(CommandStream& stream, const Tensor& x, DType dtype);

/// View with dimensions reordered: result dim i is x's dim `dims[i]` (torch.permute).
Tensor permute(const Tensor& x, std::span<const int> dims);
inline Tensor permute(const Tensor& x, std::initializer_list<int> dims) {
  return permute(x, std::span<const int>(dims.begin(), dims.size()));
}
/// View of `length` elements of dim `dim` from `start` (torch.narrow); negative dim counts from the end.
Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length);
/// Views of consecutive pieces of dim `dim` with the given sizes (which must sum to its extent).
std::vector<Tensor> split(const Tensor& x, int dim, std::span<const int64_t> sizes);
/// View with dim `dim` split into `sizes` (product must equal its extent; torch.unflatten). Works on any
/// strides: the pieces get strides stride·(inner sizes), ..., stride.
Tensor unflatten(const Tensor& x, int dim, std::span<const int64_t> sizes);
inline Tensor unflatten(const Tensor& x, int dim, std::initializer_list<int64_t> sizes) {
  return unflatten(x, dim, std::span<const int64_t>(sizes.begin(), sizes.size()));
}
/// View with size-1 dims stretched to `shape` by stride 0 (same rank; torch.expand without new dims).
Tensor expand(const Tensor& x, const Shape& shape);

/// Throws Unsupported naming `op` unless every element index of `t` fits in 32 bits (the shaders index
/// in uint) and t's strides are non-negative.
void require_u32_indexing(const Tensor& t, const char* op);
/// Normalises a possibly negative dim for a tensor of `rank`; throws Unsupported naming `op` if out of range.
int normalize_dim(int dim, int rank, const char* op);

}  // namespace lattice::gpu
