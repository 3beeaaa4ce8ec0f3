#include "gpu/device.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "gpu/error.h"
#include "gpu/instance.h"

namespace lattice::gpu {

static bool has_extension(const std::vector<VkExtensionProperties>& exts, const char* name) {
  return std::any_of(exts.begin(), exts.end(),
                     [&](const VkExtensionProperties& e) { return std::strcmp(e.extensionName, name) == 0; });
}

static std::vector<VkExtensionProperties> device_extensions(VkPhysicalDevice physical) {
  uint32_t count = 0;
  LATTICE_VK_CHECK(vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, nullptr));
  std::vector<VkExtensionProperties> exts(count);
  LATTICE_VK_CHECK(vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, exts.data()));
  return exts;
}

static const char* type_name(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

DeviceInfo query_device(VkPhysicalDevice physical, uint32_t index) {
  DeviceInfo d;
  d.index = index;
  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &subgroup};
  vkGetPhysicalDeviceProperties2(physical, &props);
  const auto& p = props.properties;
  d.name = p.deviceName;
  d.type = type_name(p.deviceType);
  d.api_version = p.apiVersion;
  d.vendor_id = p.vendorID;
  d.subgroup_size = subgroup.subgroupSize;
  d.max_shared_memory = p.limits.maxComputeSharedMemorySize;
  d.max_texel_buffer_elements = p.limits.maxTexelBufferElements;
  d.max_storage_buffer_range = p.limits.maxStorageBufferRange;

  VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &m3};
  vkGetPhysicalDeviceProperties2(physical, &props2);
  d.max_memory_allocation_size = m3.maxMemoryAllocationSize;

  if (p.apiVersion >= VK_API_VERSION_1_2) {
    VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, &f11};
    VkPhysicalDeviceFeatures2 f{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &f12};
    vkGetPhysicalDeviceFeatures2(physical, &f);
    d.fp16_arithmetic = f12.shaderFloat16;
    d.int8_arithmetic = f12.shaderInt8;
    d.storage_8bit = f12.storageBuffer8BitAccess;
    d.storage_16bit = f11.storageBuffer16BitAccess;
    d.timeline_semaphore = f12.timelineSemaphore;
  }
  auto exts = device_extensions(physical);
  d.push_descriptor = has_extension(exts, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  d.cooperative_matrix_nv = has_extension(exts, "VK_NV_cooperative_matrix");
  d.cooperative_matrix_khr = has_extension(exts, "VK_KHR_cooperative_matrix");

  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(physical, &mem);
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
    d.heaps.push_back({mem.memoryHeaps[i].size, (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0});
  return d;
}

std::string DeviceInfo::to_json() const {
  nlohmann::json heaps_json = nlohmann::json::array();
  for (const auto& h : heaps) heaps_json.push_back({{"size", h.size}, {"device_local", h.device_local}});
  nlohmann::json j = {
      {"index", index},
      {"name", name},
      {"type", type},
      {"api_version", std::to_string(VK_API_VERSION_MAJOR(api_version)) + "." +
                          std::to_string(VK_API_VERSION_MINOR(api_version)) + "." +
                          std::to_string(VK_API_VERSION_PATCH(api_version))},
      {"vendor_id", vendor_id},
      {"usable", usable()},
      {"fp16_arithmetic", fp16_arithmetic},
      {"int8_arithmetic", int8_arithmetic},
      {"storage_16bit", storage_16bit},
      {"storage_8bit", storage_8bit},
      {"cooperative_matrix_nv", cooperative_matrix_nv},
      {"cooperative_matrix_khr", cooperative_matrix_khr},
      {"subgroup_size", subgroup_size},
      {"max_shared_memory", max_shared_memory},
      {"max_texel_buffer_elements", max_texel_buffer_elements},
      {"max_storage_buffer_range", max_storage_buffer_range},
      {"max_memory_allocation_size", max_memory_allocation_size},
      {"memory_heaps", heaps_json},
  };
  return j.dump();
}

std::string DeviceInfo::to_text() const {
  auto yn = [](bool b) { return b ? "yes" : "no"; };
  auto mib = [](uint64_t b) { return std::to_string(b >> 20) + " MiB"; };
  std::string s = "[" + std::to_string(index) + "] " + name + " (" + type + ", Vulkan " +
                  std::to_string(VK_API_VERSION_MAJOR(api_version)) + "." +
                  std::to_string(VK_API_VERSION_MINOR(api_version)) + (usable() ? "" : ", NOT USABLE") + ")\n";
  s += std::string("    fp16 ") + yn(fp16_arithmetic) + ", int8 " + yn(int8_arithmetic) + ", 16-bit storage " +
       yn(storage_16bit) + ", 8-bit storage " + yn(storage_8bit) + ", cooperative matrix NV " +
       yn(cooperative_matrix_nv) + " / KHR " + yn(cooperative_matrix_khr) + "\n";
  s += "    subgroup " + std::to_string(subgroup_size) + ", shared memory " + std::to_string(max_shared_memory) +
       " B, max storage buffer " + mib(max_storage_buffer_range) + ", max allocation " +
       mib(max_memory_allocation_size) + "\n";
  for (size_t i = 0; i < heaps.size(); ++i)
    s += "    heap " + std::to_string(i) + ": " + mib(heaps[i].size) + (heaps[i].device_local ? " device-local" : "") +
         "\n";
  return s;
}

std::vector<DeviceInfo> list_devices(const Instance& instance) {
  std::vector<DeviceInfo> out;
  auto physical = instance.physical_devices();
  for (uint32_t i = 0; i < physical.size(); ++i) out.push_back(query_device(physical[i], i));
  return out;
}

int print_devices(bool json) {
  Instance instance(false);
  auto devices = list_devices(instance);
  if (json) {
    std::string s = "[";
    for (size_t i = 0; i < devices.size(); ++i) s += (i ? "," : "") + devices[i].to_json();
    std::printf("%s]\n", s.c_str());
  } else {
    if (devices.empty()) std::printf("no Vulkan devices\n");
    for (const auto& d : devices) std::printf("%s", d.to_text().c_str());
  }
  return 0;
}

static std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

static uint32_t pick_device(const std::vector<DeviceInfo>& devices, const std::optional<std::string>& selector) {
  if (devices.empty()) throw_unsupported("no Vulkan device found");
  if (selector && !selector->empty()) {
    const std::string& sel = *selector;
    bool numeric = std::all_of(sel.begin(), sel.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    for (const auto& d : devices) {
      bool match = numeric ? d.index == static_cast<uint32_t>(std::stoul(sel))
                           : lower(d.name).find(lower(sel)) != std::string::npos;
      if (!match) continue;
      if (!d.usable())
        throw_unsupported("device '" + d.name + "' (LATTICE_DEVICE=" + sel +
                          ") lacks Vulkan 1.2, timeline semaphores or VK_KHR_push_descriptor");
      return d.index;
    }
    throw_unsupported("LATTICE_DEVICE=" + sel + " matches no device (see lattice --devices)");
  }
  for (const char* type : {"discrete", "integrated", "virtual", "cpu", "other"})
    for (const auto& d : devices)
      if (d.type == type && d.usable()) return d.index;
  throw_unsupported("no Vulkan device supports Vulkan 1.2 with timeline semaphores and VK_KHR_push_descriptor");
}

Device::Device(const Instance& instance, std::optional<std::string> selector) {
  if (const char* env = std::getenv("LATTICE_GPU_MAX_BUFFER_BYTES")) max_buffer_override_ = std::strtoull(env, nullptr, 10);
  if (!selector) {
    if (const char* env = std::getenv("LATTICE_DEVICE")) selector = env;
  }
  auto devices = list_devices(instance);
  uint32_t index = pick_device(devices, selector);
  physical_ = instance.physical_devices()[index];
  info_ = devices[index];
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(physical_, &props);
  limits_ = props.limits;
  // Tests of the paths that split work to fit a texel buffer lower its element count (never raise it).
  if (const char* env = std::getenv("LATTICE_GPU_MAX_TEXEL_ELEMENTS"))
    info_.max_texel_buffer_elements =
        static_cast<uint32_t>(std::min<uint64_t>(info_.max_texel_buffer_elements, std::strtoull(env, nullptr, 10)));

  uint32_t family_count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, nullptr);
  std::vector<VkQueueFamilyProperties> families(family_count);
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, families.data());
  bool found = false;
  for (uint32_t i = 0; i < family_count && !found; ++i) {
    if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      queue_family_ = i;
      found = true;
    }
  }
  if (!found) throw_unsupported("device '" + info_.name + "' has no compute queue");

  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue_info.queueFamilyIndex = queue_family_;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;

  // Enable only what the device has; ops check info() before choosing a variant that needs a feature.
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  f11.storageBuffer16BitAccess = info_.storage_16bit;
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, &f11};
  f12.timelineSemaphore = VK_TRUE;
  f12.shaderFloat16 = info_.fp16_arithmetic;
  f12.shaderInt8 = info_.int8_arithmetic;
  f12.storageBuffer8BitAccess = info_.storage_8bit;
  std::vector<const char*> extensions = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
  // VK_NV_cooperative_matrix, for matmul's "coopmat_nv" variant: only where the device has the feature and
  // the Vulkan memory model that the extension's shaders are compiled for.
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coop_nv{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  if (info_.cooperative_matrix_nv) {
    VkPhysicalDeviceVulkan12Features q12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, &coop_nv};
    VkPhysicalDeviceFeatures2 q{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &q12};
    vkGetPhysicalDeviceFeatures2(physical_, &q);
    coop_nv.pNext = nullptr;
    if (coop_nv.cooperativeMatrix && q12.vulkanMemoryModel) {
      extensions.push_back("VK_NV_cooperative_matrix");
      f12.vulkanMemoryModel = VK_TRUE;
      coop_nv.cooperativeMatrixRobustBufferAccess = VK_FALSE;
      f11.pNext = &coop_nv;
    }
  }

  VkDeviceCreateInfo info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &f12};
  info.queueCreateInfoCount = 1;
  info.pQueueCreateInfos = &queue_info;
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  LATTICE_VK_CHECK(vkCreateDevice(physical_, &info, nullptr, &device_));
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
  if (f11.pNext == &coop_nv) {
    auto shapes_fn = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
        vkGetInstanceProcAddr(instance.handle(), "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
    uint32_t count = 0;
    if (shapes_fn != nullptr && shapes_fn(physical_, &count, nullptr) == VK_SUCCESS) {
      std::vector<VkCooperativeMatrixPropertiesNV> shapes(count, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
      if (shapes_fn(physical_, &count, shapes.data()) == VK_SUCCESS)
        for (const auto& m : shapes)
          info_.cooperative_matrix_nv_f16 |=
              m.MSize == 16 && m.NSize == 16 && m.KSize == 16 && m.AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
              m.BType == VK_COMPONENT_TYPE_FLOAT16_NV && m.CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
              m.DType == VK_COMPONENT_TYPE_FLOAT32_NV && m.scope == VK_SCOPE_SUBGROUP_NV;
    }
  }
  cmd_push_descriptor_set = reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(
      vkGetDeviceProcAddr(device_, "vkCmdPushDescriptorSetKHR"));
  if (cmd_push_descriptor_set == nullptr) {
    vkDestroyDevice(device_, nullptr);
    throw_unsupported("vkCmdPushDescriptorSetKHR missing on '" + info_.name + "'");
  }
}

Device::~Device() {
  // Work may still run if an exception unwound past a CommandStream; waiting keeps destruction valid.
  vkDeviceWaitIdle(device_);
  vkDestroyDevice(device_, nullptr);
}

uint64_t Device::max_buffer_bytes() const {
  const uint64_t limit = std::min<uint64_t>(info_.max_storage_buffer_range, info_.max_memory_allocation_size);
  return max_buffer_override_ > 0 ? std::min(limit, max_buffer_override_) : limit;
}

bool Device::supports_uniform_texel(VkFormat format) const {
  size_t slot = 0;
  while (slot < kCachedFormats.size() && kCachedFormats[slot] != format) ++slot;
  const bool cached = slot < kCachedFormats.size();
  if (cached)
    if (const uint8_t known = texel_support_[slot].load(std::memory_order_relaxed)) return known == 2;
  VkFormatProperties props;
  vkGetPhysicalDeviceFormatProperties(physical_, format, &props);
  const bool supported = (props.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT) != 0;
  if (cached) texel_support_[slot].store(supported ? 2 : 1, std::memory_order_relaxed);
  return supported;
}

}  // namespace lattice::gpu
