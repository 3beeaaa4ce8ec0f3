#pragma once
/// TensorValue: a tensor on a wire (latents, conditioning tensors), held on the device, on the host, or both.
///
/// Results pass between nodes as device tensors and stay there; host bytes exist only when something needs
/// them (the disk cache, a node that works on the host, a download for the viewer). Conversions are lazy and
/// remembered: device() uploads a host-only value once; host() downloads a device-only value once. A value
/// never changes after its node returns, so both copies stay equal. Not thread-safe: the evaluating thread
/// owns it (the editor's viewer asks through the engine's thread).
///
/// Disk cache: serialize() writes the host form (downloading if needed); a value read back from disk is
/// host-only until a node asks for it on the device.

#include <memory>
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
  std::string describe() const override;
  bool serialize(std::string& out) const override;
  /// Latents [B, C, h, w] or video latents [B, C, T, h, w]: batch entry 0 (frame 0), channels 0-2 each
  /// stretched to its range (nodes/models/latent_preview.h). Other tensors: null.
  std::shared_ptr<const ImageData> preview_image() const override;

  /// Shape, whichever copy exists.
  std::vector<int64_t> shape() const;
  /// The device copy, uploading to `ctx` if the value is host-only.
  const gpu::Tensor& device(gpu::Context& ctx) const;
  /// The host copy, downloading if the value is device-only.
  const HostTensor& host() const;
  bool on_device() const { return device_.defined(); }

 private:
  PortType type_;
  mutable gpu::Tensor device_;
  mutable std::optional<HostTensor> host_;
};

/// Registers disk-cache deserializers for the port types TensorValue carries (Latent). Idempotent.
void register_tensor_value_types();

}  // namespace lattice
