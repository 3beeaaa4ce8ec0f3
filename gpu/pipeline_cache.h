#pragma once
/// PipelineCache: one VkPipeline per (kernel, specialization constants) per device, made on first use.
///
/// Contract. Owned by the Context; pipelines live until it is destroyed, so a `const Pipeline&` stays
/// valid for the Context's lifetime. get() is thread-safe. Every pipeline uses one push-descriptor set
/// layout (set 0, bindings as KernelDesc says) and one push-constant range; no descriptor pools exist.
/// Submits no work.

#include <vulkan/vulkan.h>

#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "gpu/kernel.h"

namespace lattice::gpu {

class Device;

struct Pipeline {
  const KernelDesc* kernel = nullptr;
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
};

class PipelineCache {
 public:
  explicit PipelineCache(const Device& device);
  ~PipelineCache();
  PipelineCache(const PipelineCache&) = delete;
  PipelineCache& operator=(const PipelineCache&) = delete;

  /// The pipeline for `kernel` with specialization constant i (constant_id = i) set to spec[i].
  const Pipeline& get(const KernelDesc& kernel, std::span<const uint32_t> spec = {});
  size_t size() const;

 private:
  const Device& device_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::vector<uint32_t>>, std::unique_ptr<Pipeline>> pipelines_;
};

}  // namespace lattice::gpu
