#pragma once
/// Tensor: a typed, strided view of a device buffer.
///
/// Contract. A Tensor is a cheap handle: copies share the buffer (shared_ptr), so views alias. Strides are
/// in elements, row-major by default; offset is in elements from the buffer's start. One tensor's buffer
/// is at most Device::max_buffer_bytes() (see allocator.h): larger tensors are refused; models split their work
/// so that no tensor needs more (nodes/models/nn.h).
/// Uploads and downloads are synchronous host round trips through Staging (see staging.h): do them
/// before or after a batch, never inside one. Not thread-safe for writes to the same tensor.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gpu/dtype.h"

namespace lattice::gpu {

class Buffer;
class Context;

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
std::string shape_string(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  /// Uninitialised contiguous tensor.
  static Tensor empty(Context& context, Shape shape, DType dtype);
  /// Contiguous tensor from host floats, converted to `dtype` on the host.
  static Tensor from_floats(Context& context, std::span<const float> values, Shape shape, DType dtype = DType::F32);
  /// Contiguous tensor from raw bytes already in `dtype`'s encoding.
  static Tensor from_bytes(Context& context, std::span<const std::byte> bytes, Shape shape, DType dtype);

  /// Downloads and converts to floats (contiguous tensors only).
  std::vector<float> to_floats() const;
  /// Downloads the raw element bytes (contiguous tensors only).
  std::vector<std::byte> to_bytes() const;
  /// Overwrites the contents from raw bytes (contiguous tensors only; size must match).
  void upload_bytes(std::span<const std::byte> bytes);

  /// A view sharing the buffer; the caller keeps it within the buffer.
  Tensor view(Shape shape, Shape strides, int64_t offset) const;
  /// Same elements, another shape (contiguous tensors only).
  Tensor reshape(Shape shape) const;

  bool defined() const { return buffer_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim(int i) const { return shape_.at(static_cast<size_t>(i < 0 ? i + rank() : i)); }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return gpu::numel(shape_); }
  DType dtype() const { return dtype_; }
  int64_t offset() const { return offset_; }
  uint64_t bytes() const { return static_cast<uint64_t>(numel()) * dtype_bytes(dtype_); }
  /// Whether the elements lie packed in row-major order from offset(): every dimension of size > 1 has the
  /// stride of the dimensions after it. A size-1 dimension's stride is never used to address an element, so it
  /// may be anything (narrow(x, 0, i, 1) of a contiguous x is contiguous), and a tensor with no elements is
  /// contiguous. Ops that need packed data check this, then address from offset() alone.
  bool contiguous() const;
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }
  Context& context() const { return *context_; }
  /// "[2, 3] f32", for error messages.
  std::string describe() const;

 private:
  Context* context_ = nullptr;
  std::shared_ptr<Buffer> buffer_;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::F32;
};

}  // namespace lattice::gpu
