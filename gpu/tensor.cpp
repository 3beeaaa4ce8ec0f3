#include "gpu/tensor.h"

#include "gpu/context.h"
#include "gpu/error.h"

namespace lattice::gpu {

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape s(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = stride;
    stride *= shape[i];
  }
  return s;
}

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool Tensor::contiguous() const {
  if (numel() == 0) return true;
  int64_t packed = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] != 1 && strides_[i] != packed) return false;
    packed *= shape_[i];
  }
  return true;
}

std::string Tensor::describe() const { return shape_string(shape_) + " " + dtype_name(dtype_); }

Tensor Tensor::empty(Context& context, Shape shape, DType dtype) {
  for (int64_t d : shape)
    if (d < 0) throw_unsupported("negative dimension in tensor shape " + shape_string(shape));
  Tensor t;
  t.context_ = &context;
  t.dtype_ = dtype;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  // Round up to whole 32-bit words: shaders address 16- and 8-bit tensors through uint words.
  uint64_t bytes = (t.bytes() + 3) / 4 * 4;
  t.buffer_ = context.allocator().create_buffer(bytes, MemoryKind::DeviceLocal);
  return t;
}

Tensor Tensor::from_floats(Context& context, std::span<const float> values, Shape shape, DType dtype) {
  if (static_cast<int64_t>(values.size()) != gpu::numel(shape))
    throw_unsupported(std::to_string(values.size()) + " values for a tensor of shape " + shape_string(shape));
  std::vector<std::byte> bytes(values.size() * dtype_bytes(dtype));
  encode(dtype, values, bytes.data());
  return from_bytes(context, bytes, std::move(shape), dtype);
}

Tensor Tensor::from_bytes(Context& context, std::span<const std::byte> bytes, Shape shape, DType dtype) {
  Tensor t = empty(context, std::move(shape), dtype);
  t.upload_bytes(bytes);
  return t;
}

void Tensor::upload_bytes(std::span<const std::byte> bytes) {
  if (!contiguous()) throw_unsupported("upload into non-contiguous tensor " + describe());
  if (bytes.size() != this->bytes())
    throw_unsupported(std::to_string(bytes.size()) + " bytes for tensor " + describe() + " of " +
                      std::to_string(this->bytes()) + " bytes");
  context_->staging().upload(buffer_, static_cast<uint64_t>(offset_) * dtype_bytes(dtype_), bytes.data(), bytes.size());
}

std::vector<std::byte> Tensor::to_bytes() const {
  if (!contiguous()) throw_unsupported("download of non-contiguous tensor " + describe());
  std::vector<std::byte> out(bytes());
  context_->staging().download(buffer_, static_cast<uint64_t>(offset_) * dtype_bytes(dtype_), out.data(), out.size());
  return out;
}

std::vector<float> Tensor::to_floats() const {
  auto raw = to_bytes();
  std::vector<float> out(static_cast<size_t>(numel()));
  decode(dtype_, raw.data(), out);
  return out;
}

Tensor Tensor::view(Shape shape, Shape strides, int64_t offset) const {
  if (shape.size() != strides.size()) throw_unsupported("view of " + describe() + ": shape and strides differ in rank");
  Tensor t = *this;
  t.shape_ = std::move(shape);
  t.strides_ = std::move(strides);
  t.offset_ = offset;
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  if (!contiguous()) throw_unsupported("reshape of non-contiguous tensor " + describe());
  if (gpu::numel(shape) != numel())
    throw_unsupported("reshape of " + describe() + " to " + shape_string(shape) + ": element counts differ");
  Shape strides = contiguous_strides(shape);
  return view(std::move(shape), std::move(strides), offset_);
}

}  // namespace lattice::gpu
