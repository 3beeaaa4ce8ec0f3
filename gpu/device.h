#pragma once
/// Device: physical device selection, its capabilities, and the logical device with one compute queue.
///
/// Contract. Owns the VkDevice; everything created on it (allocator, pipelines, streams) must be destroyed
/// first. Selection: LATTICE_DEVICE=<index or case-insensitive name substring> if set, else the first
/// discrete GPU, then integrated, then virtual, then CPU (lavapipe). Requires Vulkan 1.2, timeline
/// semaphores and VK_KHR_push_descriptor; a device lacking them is skipped (or refused when named). The
/// queue is externally synchronized: only CommandStream and the staging path submit, under queue_mutex().
/// Device itself submits no work.

#include <vulkan/vulkan.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace lattice::gpu {

class Instance;

/// What matters to the ops about one physical device; see print_devices().
struct DeviceInfo {
  struct Heap {
    uint64_t size = 0;
    bool device_local = false;
  };
  uint32_t index = 0;  ///< position in vkEnumeratePhysicalDevices, what LATTICE_DEVICE=<index> names
  std::string name;
  std::string type;  ///< "discrete", "integrated", "virtual", "cpu", "other"
  uint32_t api_version = 0;
  uint32_t vendor_id = 0;
  bool fp16_arithmetic = false;  ///< shaderFloat16
  bool int8_arithmetic = false;  ///< shaderInt8
  bool storage_16bit = false;    ///< storageBuffer16BitAccess
  bool storage_8bit = false;     ///< storageBuffer8BitAccess
  bool cooperative_matrix_nv = false;
  bool cooperative_matrix_khr = false;
  /// VK_NV_cooperative_matrix enabled on the logical Device (not set by query_device) with the 16x16x16
  /// f16*f16+f32 subgroup shape that matmul's "coopmat_nv" variant uses.
  bool cooperative_matrix_nv_f16 = false;
  bool push_descriptor = false;
  bool timeline_semaphore = false;
  uint32_t subgroup_size = 0;
  uint32_t max_shared_memory = 0;
  uint32_t max_texel_buffer_elements = 0;
  uint64_t max_storage_buffer_range = 0;
  uint64_t max_memory_allocation_size = 0;
  std::vector<Heap> heaps;

  bool usable() const { return api_version >= VK_API_VERSION_1_2 && push_descriptor && timeline_semaphore; }
  bool is_cpu() const { return type == "cpu"; }
  std::string to_json() const;  ///< one JSON object
  std::string to_text() const;  ///< a few human-readable lines
};

DeviceInfo query_device(VkPhysicalDevice physical, uint32_t index);
std::vector<DeviceInfo> list_devices(const Instance& instance);

/// `lattice --devices [--json]`: prints every device (JSON: an array of DeviceInfo objects) to stdout
/// and returns 0; throws DeviceError when Vulkan cannot be initialised.
int print_devices(bool json);

class Device {
 public:
  /// `selector` overrides LATTICE_DEVICE; nullopt means use the environment or the preference order.
  explicit Device(const Instance& instance, std::optional<std::string> selector = std::nullopt);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkDevice handle() const { return device_; }
  VkPhysicalDevice physical() const { return physical_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  std::mutex& queue_mutex() const { return queue_mutex_; }
  const DeviceInfo& info() const { return info_; }
  const VkPhysicalDeviceLimits& limits() const { return limits_; }
  /// Largest single buffer an op may bind: min(maxStorageBufferRange, maxMemoryAllocationSize), lowered
  /// further by LATTICE_GPU_MAX_BUFFER_BYTES when set (read once, at construction). Models split what would
  /// not fit (nodes/models/nn.h: map_token_chunks, Linear), so lowering it exercises on any device the paths
  /// that 128 MiB (lavapipe) or 4 GiB (discrete GPUs) forces at full model size.
  uint64_t max_buffer_bytes() const;
  /// Whether `format` may back a uniform texel buffer (samplerBuffer) on this device. Asked of the driver once
  /// per format and device (ops ask on every dispatch); thread-safe.
  bool supports_uniform_texel(VkFormat format) const;
  PFN_vkCmdPushDescriptorSetKHR cmd_push_descriptor_set = nullptr;

 private:
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  mutable std::mutex queue_mutex_;
  DeviceInfo info_;
  VkPhysicalDeviceLimits limits_{};
  uint64_t max_buffer_override_ = 0;
  // supports_uniform_texel's answers for the formats the texel variants bind (f32 operands, packed weights),
  // slot i for kCachedFormats[i]: 0 not asked yet, 1 unsupported, 2 supported. Racing first askers store the
  // same answer. Other formats go to the driver each time.
  static constexpr std::array<VkFormat, 2> kCachedFormats = {VK_FORMAT_R32G32B32A32_SFLOAT, VK_FORMAT_R32G32B32A32_UINT};
  mutable std::array<std::atomic<uint8_t>, kCachedFormats.size()> texel_support_{};
};

}  // namespace lattice::gpu
