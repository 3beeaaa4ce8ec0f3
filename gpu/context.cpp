#include "gpu/context.h"

namespace lattice::gpu {

Context::Context(std::optional<std::string> device_selector)
    : instance_(std::make_unique<Instance>()),
      device_(std::make_unique<Device>(*instance_, std::move(device_selector))),
      allocator_(std::make_unique<Allocator>(*device_)),
      pipelines_(std::make_unique<PipelineCache>(*device_)),
      staging_(std::make_unique<Staging>(*this)) {}

Context::~Context() {
  // Members go in reverse order of declaration: staging's buffer, pipelines, allocator, device, instance.
  staging_.reset();
}

}  // namespace lattice::gpu
