#pragma once
/// Instance: the VkInstance and, when asked for, the Khronos validation layer.
///
/// Contract. Owns the VkInstance and the debug-utils messenger; destroy every Device made from it first.
/// Construction and destruction on one thread; validation_errors() may be read from any thread (the
/// messenger callback may run on driver threads, so the counter is atomic). Submits no work.
///
/// Validation is enabled when LATTICE_VULKAN_VALIDATION=1 is in the environment (the tests set it). Each
/// message of error severity is printed to stderr and counted; tests fail when the count grows.

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <vector>

namespace lattice::gpu {

/// True when LATTICE_VULKAN_VALIDATION=1.
bool validation_requested();

class Instance {
 public:
  explicit Instance(bool validation = validation_requested());
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance handle() const { return instance_; }
  bool validation_enabled() const { return messenger_ != VK_NULL_HANDLE; }
  /// Validation messages of error severity seen so far (0 when validation is off).
  uint64_t validation_errors() const { return errors_.load(); }
  /// Validation errors counted by every Instance of this process so far, including destroyed ones (what a
  /// test harness checks when it does not own the Instance, e.g. node tests through the GPU service).
  static uint64_t process_validation_errors();
  std::vector<VkPhysicalDevice> physical_devices() const;

 private:
  static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                   VkDebugUtilsMessageTypeFlagsEXT types,
                                                   const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                   void* self);
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  std::atomic<uint64_t> errors_{0};
};

}  // namespace lattice::gpu
