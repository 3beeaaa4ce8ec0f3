#pragma once
/// Context: everything one device needs, made together and destroyed in the right order.
///
/// Contract. Owns Instance, Device, Allocator, PipelineCache and Staging. Create one per device and keep
/// it alive longer than every Tensor and CommandStream made from it. Its parts are thread-safe where their
/// headers say so; the Context adds no locking. Creating it submits no work.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "gpu/allocator.h"
#include "gpu/device.h"
#include "gpu/instance.h"
#include "gpu/pipeline_cache.h"
#include "gpu/staging.h"

namespace lattice::gpu {

class Context {
 public:
  /// `device_selector` as LATTICE_DEVICE (index or name substring); nullopt: environment or preference.
  explicit Context(std::optional<std::string> device_selector = std::nullopt);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Instance& instance() { return *instance_; }
  Device& device() { return *device_; }
  Allocator& allocator() { return *allocator_; }
  PipelineCache& pipelines() { return *pipelines_; }
  Staging& staging() { return *staging_; }

  /// High-water mark of device-local bytes held by live buffers.
  uint64_t peak_device_bytes() const { return allocator_->peak_device_bytes(); }
  /// The most device-local bytes this Context will hold at once (see Allocator).
  uint64_t memory_budget() const { return allocator_->budget_bytes(); }

 private:
  std::unique_ptr<Instance> instance_;
  std::unique_ptr<Device> device_;
  std::unique_ptr<Allocator> allocator_;
  std::unique_ptr<PipelineCache> pipelines_;
  std::unique_ptr<Staging> staging_;
};

}  // namespace lattice::gpu
