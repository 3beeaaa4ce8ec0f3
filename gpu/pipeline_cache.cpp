#include "gpu/pipeline_cache.h"

#include "gpu/device.h"
#include "gpu/error.h"

namespace lattice::gpu {

PipelineCache::PipelineCache(const Device& device) : device_(device) {}

PipelineCache::~PipelineCache() {
  for (auto& [key, p] : pipelines_) {
    vkDestroyPipeline(device_.handle(), p->pipeline, nullptr);
    vkDestroyPipelineLayout(device_.handle(), p->layout, nullptr);
    vkDestroyDescriptorSetLayout(device_.handle(), p->set_layout, nullptr);
  }
}

size_t PipelineCache::size() const {
  std::lock_guard lock(mutex_);
  return pipelines_.size();
}

const Pipeline& PipelineCache::get(const KernelDesc& kernel, std::span<const uint32_t> spec) {
  std::lock_guard lock(mutex_);
  auto key = std::make_pair(std::string(kernel.name), std::vector<uint32_t>(spec.begin(), spec.end()));
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return *it->second;

  VkDevice dev = device_.handle();
  // Built into a unique_ptr first so a failure part-way leaves nothing half-registered; the handles made
  // so far are destroyed by the guard.
  auto p = std::make_unique<Pipeline>();
  p->kernel = &kernel;
  struct Guard {
    VkDevice dev;
    Pipeline* p;
    ~Guard() {
      if (!p) return;
      vkDestroyPipeline(dev, p->pipeline, nullptr);
      vkDestroyPipelineLayout(dev, p->layout, nullptr);
      vkDestroyDescriptorSetLayout(dev, p->set_layout, nullptr);
    }
  } guard{dev, p.get()};

  std::vector<VkDescriptorSetLayoutBinding> bindings;
  for (uint32_t i = 0; i < kernel.bindings.size(); ++i) {
    VkDescriptorSetLayoutBinding b{};
    b.binding = i;
    b.descriptorType = kernel.bindings[i] == BindingKind::Storage ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                                                                  : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
    b.descriptorCount = 1;
    b.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    bindings.push_back(b);
  }
  VkDescriptorSetLayoutCreateInfo set_info{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  set_info.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR;
  set_info.bindingCount = static_cast<uint32_t>(bindings.size());
  set_info.pBindings = bindings.data();
  LATTICE_VK_CHECK(vkCreateDescriptorSetLayout(dev, &set_info, nullptr, &p->set_layout));

  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, kernel.push_constant_bytes};
  VkPipelineLayoutCreateInfo layout_info{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  layout_info.setLayoutCount = 1;
  layout_info.pSetLayouts = &p->set_layout;
  layout_info.pushConstantRangeCount = kernel.push_constant_bytes ? 1 : 0;
  layout_info.pPushConstantRanges = &range;
  LATTICE_VK_CHECK(vkCreatePipelineLayout(dev, &layout_info, nullptr, &p->layout));

  VkShaderModuleCreateInfo module_info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  module_info.codeSize = kernel.spirv.size_bytes();
  module_info.pCode = kernel.spirv.data();
  VkShaderModule module = VK_NULL_HANDLE;
  LATTICE_VK_CHECK(vkCreateShaderModule(dev, &module_info, nullptr, &module));

  std::vector<VkSpecializationMapEntry> entries;
  for (uint32_t i = 0; i < spec.size(); ++i) entries.push_back({i, i * 4u, 4u});
  VkSpecializationInfo spec_info{static_cast<uint32_t>(entries.size()), entries.data(), spec.size_bytes(),
                                 spec.data()};
  VkComputePipelineCreateInfo info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  info.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = module;
  info.stage.pName = "main";
  info.stage.pSpecializationInfo = spec.empty() ? nullptr : &spec_info;
  info.layout = p->layout;
  VkResult r = vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &info, nullptr, &p->pipeline);
  vkDestroyShaderModule(dev, module, nullptr);
  if (r != VK_SUCCESS) throw_vk(r, "vkCreateComputePipelines", __FILE__, __LINE__);

  guard.p = nullptr;
  return *pipelines_.emplace(std::move(key), std::move(p)).first->second;
}

}  // namespace lattice::gpu
