#include "nodes/types/tensor_value.h"

#include <cstring>

#include "core/bytes.h"
#include "core/error.h"
#include "gpu/allocator.h"
#include "nodes/models/latent_preview.h"
#include "nodes/types/exact_device_dtype.h"

namespace lattice {

namespace {

gpu::DType to_gpu(DType t) {
  if (auto d = exact_device_dtype(t)) return *d;
  throw_eval("tensor dtype " + std::string(dtype_name(t)) + " cannot live on the device");
}

DType from_gpu(gpu::DType t) {
  switch (t) {
    case gpu::DType::F32: return DType::F32;
    case gpu::DType::F16: return DType::F16;
    case gpu::DType::BF16: return DType::BF16;
    case gpu::DType::F8E4M3FN: return DType::F8E4M3;
    case gpu::DType::F8E5M2: return DType::F8E5M2;
  }
  return DType::F32;
}

}  // namespace

size_t TensorValue::bytes() const {
  std::lock_guard lock(mutex_);
  size_t b = sizeof(*this);
  if (device_.defined()) b += device_.bytes();
  if (host_) b += host_->data.size();
  return b;
}

size_t TensorValue::device_bytes() const {
  std::lock_guard lock(mutex_);
  return device_.defined() ? device_.bytes() : 0;
}

bool TensorValue::on_device() const {
  std::lock_guard lock(mutex_);
  return device_.defined();
}

std::vector<int64_t> TensorValue::shape() const {
  std::lock_guard lock(mutex_);
  return device_.defined() ? device_.shape() : host_->shape;
}

std::string TensorValue::describe() const {
  HostTensor shape_only{DType::F32, shape(), {}};
  return std::string(port_type_name(type_)) + " " + shape_only.shape_string() + (on_device() ? " (device)" : " (host)");
}

gpu::Tensor TensorValue::device(gpu::Context& ctx) const {
  {
    std::lock_guard lock(mutex_);
    if (device_.defined() && &device_.context() == &ctx) return device_;
  }
  // Upload without the lock: the allocation may ask the cache to spill, which must not find this value
  // locked by its own thread.
  const HostTensor& h = host();
  const auto* bytes = reinterpret_cast<const std::byte*>(h.data.data());
  gpu::Tensor uploaded = gpu::Tensor::from_bytes(ctx, {bytes, h.data.size()}, h.shape, to_gpu(h.dtype));
  std::lock_guard lock(mutex_);
  if (!device_.defined()) device_ = uploaded;                       // remembered: resident again
  else if (&device_.context() == &ctx) return device_;              // another thread was quicker
  return uploaded;
}

const HostTensor& TensorValue::host() const {
  std::lock_guard lock(mutex_);
  return host_locked();
}

const HostTensor& TensorValue::host_locked() const {
  if (!host_) {
    const gpu::Tensor dense = device_;
    if (!dense.contiguous()) throw_eval("cannot download a non-contiguous " + dense.describe());
    HostTensor h;
    h.dtype = from_gpu(dense.dtype());
    h.shape = dense.shape();
    auto b = dense.to_bytes();
    h.data.resize(b.size());
    std::memcpy(h.data.data(), b.data(), b.size());
    host_ = std::move(h);
  }
  return *host_;
}

size_t TensorValue::spill_to_host(const void* device) const {
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock() || !device_.defined() || !device_.contiguous()) return 0;
  if (device != nullptr && &device_.context() != device) return 0;
  // Another holder (a node's tensor, a view, a stream's recorded work) would keep the buffer alive.
  if (device_.buffer().use_count() != 1) return 0;
  host_locked();
  const size_t freed = device_.buffer()->size();
  device_ = gpu::Tensor{};
  return freed;
}

std::shared_ptr<const ImageData> TensorValue::preview_image() const {
  const std::vector<int64_t> s = shape();
  if (type_ != PortType::Latent || (s.size() != 4 && s.size() != 5) || s[0] < 1 || s[1] < 1) return nullptr;
  const int64_t c = s[1], h = s[s.size() - 2], w = s[s.size() - 1], frames = s.size() == 5 ? s[2] : 1;
  if (h < 1 || w < 1 || frames < 1 || h > kMaxImageSide || w > kMaxImageSide) return nullptr;
  const std::vector<float> all = host().to_f32();
  // Batch 0, frame 0 of each channel: [C, h, w].
  std::vector<float> first(static_cast<size_t>(c * h * w));
  for (int64_t k = 0; k < c; ++k)
    std::memcpy(first.data() + k * h * w, all.data() + k * frames * h * w, static_cast<size_t>(h * w) * sizeof(float));
  return preview_channels(first, static_cast<int>(c), static_cast<int>(h), static_cast<int>(w));
}

bool TensorValue::serialize(std::string& out) const {
  // The core tensor encoding, so that the disk cache holds one format for every tensor.
  return TensorData(host()).serialize(out);
}

void register_tensor_value_types() {
  static const bool once = [] {
    const Deserializer* core_tensor = find_deserializer(PortType::Tensor);
    for (PortType t : {PortType::Latent}) {
      register_deserializer(t, [core_tensor, t](std::string_view b) -> Value {
        auto v = (*core_tensor)(b);
        return std::make_shared<TensorValue>(t, dynamic_cast<const TensorData&>(*v).tensor);
      });
    }
    return true;
  }();
  (void)once;
}

}  // namespace lattice
