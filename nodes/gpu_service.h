#pragma once
/// GpuService: the Vulkan device that nodes compute on, provided to them through the engine's Environment.
///
/// The Context is created on first use, so a graph of host-only nodes renders on a machine with no Vulkan
/// driver at all; a node that needs the device and cannot get one fails with the device error (exit 4).
/// LATTICE_DEVICE selects the device (see gpu/device.h). Not thread-safe: one evaluating thread uses it.
///
/// Residency: once it knows its Environment (gpu_context() tells it), the service installs an allocator
/// reclaimer (gpu/allocator.h) that, when a request would exceed the device budget, asks the memory cache
/// lent to the environment by the engine (core/cache.h: CacheLoan) to spill its least recently used device
/// values on this device to host memory.

#include <memory>
#include <optional>
#include <string>

#include "core/eval_context.h"
#include "gpu/command_stream.h"
#include "gpu/context.h"

namespace lattice {

class GpuService {
 public:
  explicit GpuService(std::optional<std::string> selector = std::nullopt) : selector_(std::move(selector)) {}
  gpu::Context& context();
  bool started() const { return context_ != nullptr; }
  /// Whether a device can be had, trying once: nodes with a host path (image operations) use it to fall
  /// back to the CPU on machines without a Vulkan driver instead of failing.
  bool available();
  uint64_t peak_device_bytes() const { return context_ ? context_->peak_device_bytes() : 0; }
  /// The environment this service lives in, whose lent cache it spills (see above). Idempotent.
  void attach(Environment& env);

 private:
  void install_reclaimer();
  std::optional<std::string> selector_;
  Environment* env_ = nullptr;
  std::unique_ptr<gpu::Context> context_;
  bool tried_ = false;
};

/// The service from a node's environment; throws a clear error when the host set none up.
gpu::Context& gpu_context(const EvalContext& ctx);

}  // namespace lattice
