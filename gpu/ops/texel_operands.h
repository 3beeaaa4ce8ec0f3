#pragma once
/// TexelOperands: the one rule for when an op may bind its f32 operands as RGBA32F uniform texel buffers (four
/// consecutive values one texel) instead of storage buffers, and the Args that bind them. Used by the texel
/// variants of binary, copy, modulate, norm, norm_modulate, rope and attention (Q, K and V), and by matmul for its A
/// operand.
///
/// Promises. A TexelOperands converts to true only when every condition given to it held:
/// - constructed: the device is a CPU device (the texel variants were measured only on lavapipe, whose per-lane
///   storage loads go one lane at a time while a texel fetch gathers them) and offers kTexelFormat as uniform texel
///   buffer format;
/// - aligned(...): every count given (channel counts, element offsets, strides: whatever addresses the texels)
///   is a multiple of 4, so element e of an operand is component e % 4 of texel e / 4;
/// - bound(...): every defined tensor's whole buffer fits one texel view (size / 16 <= maxTexelBufferElements),
///   since ops bind whole buffers;
/// - rows(rank, shape, strides): for views over one shape (strides per view, in elements), the innermost
///   dimension contiguous in every view with a size that is a multiple of 4, every other stride a multiple
///   of 4 (false for rank 0);
/// - require(c): the op's own condition c (contiguous channels, a pairing).
/// texel_arg binds a buffer as texel buffer of kTexelFormat when `texel`, else as storage buffer.
/// Nothing here records or submits work; everything is cheap enough to run per dispatch.

#include <vulkan/vulkan.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>

#include "gpu/command_stream.h"
#include "gpu/device.h"
#include "gpu/tensor.h"

namespace lattice::gpu {

inline constexpr VkFormat kTexelFormat = VK_FORMAT_R32G32B32A32_SFLOAT;

class TexelOperands {
 public:
  explicit TexelOperands(const Device& device);
  TexelOperands& aligned(std::initializer_list<uint64_t> counts);
  TexelOperands& rows(uint32_t rank, const uint32_t* shape, std::initializer_list<const uint32_t*> strides);
  /// Undefined tensors (an absent optional operand) are skipped.
  TexelOperands& bound(std::initializer_list<const Tensor*> operands);
  TexelOperands& require(bool condition) {
    ok_ = ok_ && condition;
    return *this;
  }
  explicit operator bool() const { return ok_; }

 private:
  const Device& device_;
  bool ok_;
};

/// `buffer` as a uniform texel buffer of kTexelFormat when `texel`, else as a storage buffer.
inline Arg texel_arg(const std::shared_ptr<Buffer>& buffer, bool texel) {
  return {buffer, texel ? kTexelFormat : VK_FORMAT_UNDEFINED};
}

}  // namespace lattice::gpu
