#pragma once
/// Values that flow along wires. A Value is an immutable, shared handle to Data of one PortType; it is
/// cheap to copy, and a Data object never changes after the node that made it returns, which is what
/// lets the cache hand the same object to every consumer. Data subclasses live beside the code that
/// knows them (core/types/ for host images, tensors, numbers and strings; nodes/ for device tensors and
/// model handles). A Data type that can be written to the disk cache implements serialize() and
/// registers a deserializer for its PortType.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace lattice {

class ImageData;

enum class PortType : uint8_t {
  Number,
  String,
  Image,
  Latent,
  Tensor,
  Tensors,  ///< a named set of tensors (a .safetensors file's content)
  Conditioning,
  TextEncoder,
  DiT,
  VAE,
  Upsampler,
  Scheduler,
  LoRA,
  Video,
  Audio,
  ImageEncoder,  ///< an image encoder (CLIP vision tower) with its preprocessing
};

/// Lower-case name used in files, the catalogue and messages ("image", "text_encoder", ...).
std::string_view port_type_name(PortType t);
std::optional<PortType> port_type_from_name(std::string_view name);
/// Every port type, in declaration order.
const std::vector<PortType>& all_port_types();

class Data {
 public:
  virtual ~Data() = default;
  virtual PortType type() const = 0;
  /// Bytes this value holds (host and device); what the memory cache budgets.
  virtual size_t bytes() const = 0;
  /// The part of bytes() held in device memory (0 for host values); the memory cache reports it.
  virtual size_t device_bytes() const { return 0; }
  /// Device residency (the memory cache's spill rule, cache.h): copies the value to host memory if it is
  /// not there yet and frees its device memory, returning the device bytes freed. `device` names the
  /// device whose memory is short (an opaque identity: the gpu::Context; nullptr = any); a value on
  /// another device, or whose device memory is still in use elsewhere (a running node holds it), frees
  /// nothing and returns 0. The value stays equal: asked for on the device later, it is uploaded again
  /// with the same bytes. Thread-safe against the value's own accessors.
  virtual size_t spill_to_host(const void* device) const {
    (void)device;
    return 0;
  }
  /// Short human description for logs and the editor: "image 512x512x4 f32".
  virtual std::string describe() const = 0;
  /// A picture of this value for viewers when it is not an image itself (latents in false colour), or null.
  /// Called on the evaluating thread (it may download device data).
  virtual std::shared_ptr<const ImageData> preview_image() const { return nullptr; }
  /// True for a value consumed while it is being produced (core/types/video_stream.h): the engine never
  /// caches it and hands it only to an input that accepts streams.
  virtual bool transient() const { return false; }
  /// Appends a self-contained encoding to `out` and returns true, or returns false when this value
  /// cannot be persisted (device-only handles, model handles).
  virtual bool serialize(std::string& out) const {
    (void)out;
    return false;
  }
};

using Value = std::shared_ptr<const Data>;

/// Deserializers for the disk cache, one per PortType. They throw lattice::Error on malformed bytes.
using Deserializer = std::function<Value(std::string_view bytes)>;
void register_deserializer(PortType t, Deserializer d);
const Deserializer* find_deserializer(PortType t);

}  // namespace lattice
