#pragma once
/// TensorValue: a tensor on a wire (latents, conditioning tensors), held on the device, on the host, or both.
///
/// Results pass between nodes as device tensors and stay there; host bytes exist only when something needs
/// them (the disk cache, a node that works on the host, a download for the viewer). Conversions are lazy and
/// remembered: device() uploads a host-only value once; host() downloads a device-only value once. A value
/// never changes after its node returns, so both copies stay equal.
///
/// Residency (core/cache.h): under device-memory pressure the memory cache calls spill_to_host(), which
/// keeps (or makes) the host copy and drops the device tensor, freeing its buffer, but only when this value
/// is the buffer's sole holder: device() hands out tensors by value, so a node using one (or a stream that
/// recorded work on it) holds the buffer and the spill skips the value. The next device() uploads the same
/// bytes again. A value resident on another device (a service worker's own Context) is uploaded to the one
/// asked for without moving it. Thread-safe (one mutex; device() uploads without it, so that the upload's
/// allocation may spill other values).
///
/// Disk cache: serialize() writes the host form (downloading if needed); a value read back from disk is
/// host-only until a node asks for it on the device.

#include <memory>
#include <mutex>
#include <optional>

#include "core/types/tensor.h"
#include "gpu/tensor.h"

namespace lattice {

class TensorValue final : public Data {
 public:
  TensorValue(PortType type, gpu::Tensor device) : type_(type), device_(std::move(device)) {}
  TensorValue(PortType type, HostTensor host) : type_(type), host_(std::move(host)) {}

  PortType type() const override { return type_; }
  size_t bytes() const override;
  size_t device_bytes() const override;
  size_t spill_to_host(const void* device) const override;
  std::string describe() const override;
  bool serialize(std::string& out) const override;
  /// Latents [B, C, h, w] or video latents [B, C, T, h, w]: batch entry 0 (frame 0), channels 0-2 each
  /// stretched to its range (nodes/models/latent_preview.h). Other tensors: null.
  std::shared_ptr<const ImageData> preview_image() const override;

  /// Shape, whichever copy exists.
  std::vector<int64_t> shape() const;
  /// The device copy on `ctx`, uploading it if the value is host-only (or was spilled). Hold the returned
  /// tensor while using it: that is what keeps the value from being spilled meanwhile.
  gpu::Tensor device(gpu::Context& ctx) const;
  /// The host copy, downloading if the value is device-only. Once made it stays (spilling keeps it).
  const HostTensor& host() const;
  bool on_device() const;

 private:
  const HostTensor& host_locked() const;  // mutex_ held
  PortType type_;
  mutable std::mutex mutex_;
  mutable gpu::Tensor device_;
  mutable std::optional<HostTensor> host_;
};

/// Registers disk-cache deserializers for the port types TensorValue carries (Latent). Idempotent.
void register_tensor_value_types();

}  // namespace lattice
