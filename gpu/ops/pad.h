#pragma once
/// Padding of the trailing dimensions, each side and each dimension on its own:
/// constant (zeros by default: the VAE encoder's right/bottom-only (0,1,0,1)) or replicate (the edge
/// element repeated: LTX's causal convs repeat the first frame k-1 times in front).
///
/// Input: an f32 tensor of rank <= 6, any strides. `pads` describes the LAST pads.size() dims in order
/// (for NCHW, {{top, bottom}, {left, right}}; for NCDHW, {{front, back}, {top, bottom}, {left, right}}).
/// Amounts are >= 0; replicate needs a non-empty dim. Output: a new contiguous f32 tensor. A corner that is
/// outside a constant-padded dim gets the constant even when another dim replicates. Exact (a gather).
/// Records one dispatch; nothing is submitted.

#include <span>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

enum class PadMode { Constant, Replicate };

struct DimPad {
  int64_t before = 0, after = 0;
  PadMode mode = PadMode::Constant;
};

Tensor pad(CommandStream& stream, const Tensor& x, std::span<const DimPad> pads, float value = 0.0f);
inline Tensor pad(CommandStream& stream, const Tensor& x, std::initializer_list<DimPad> pads, float value = 0.0f) {
  return pad(stream, x, std::span<const DimPad>(pads.begin(), pads.size()), value);
}

}  // namespace lattice::gpu
