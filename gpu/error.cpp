#include "gpu/error.h"

namespace lattice::gpu {

const char* result_name(VkResult result) {
  switch (result) {
#define LATTICE_RESULT_CASE(r) \
  case r:                      \
    return #r;
    LATTICE_RESULT_CASE(VK_SUCCESS)
    LATTICE_RESULT_CASE(VK_NOT_READY)
    LATTICE_RESULT_CASE(VK_TIMEOUT)
    LATTICE_RESULT_CASE(VK_INCOMPLETE)
    LATTICE_RESULT_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    LATTICE_RESULT_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    LATTICE_RESULT_CASE(VK_ERROR_INITIALIZATION_FAILED)
    LATTICE_RESULT_CASE(VK_ERROR_DEVICE_LOST)
    LATTICE_RESULT_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    LATTICE_RESULT_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    LATTICE_RESULT_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    LATTICE_RESULT_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    LATTICE_RESULT_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    LATTICE_RESULT_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    LATTICE_RESULT_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    LATTICE_RESULT_CASE(VK_ERROR_FRAGMENTED_POOL)
    LATTICE_RESULT_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
#undef LATTICE_RESULT_CASE
    default:
      return "VkResult(unknown)";
  }
}

void throw_vk(VkResult result, const char* call, const char* file, int line) {
  Failure failure = Failure::Vulkan;
  if (result == VK_ERROR_DEVICE_LOST) failure = Failure::DeviceLost;
  if (result == VK_ERROR_OUT_OF_HOST_MEMORY || result == VK_ERROR_OUT_OF_DEVICE_MEMORY ||
      result == VK_ERROR_OUT_OF_POOL_MEMORY)
    failure = Failure::OutOfMemory;
  if (result == VK_ERROR_FEATURE_NOT_PRESENT || result == VK_ERROR_EXTENSION_NOT_PRESENT ||
      result == VK_ERROR_FORMAT_NOT_SUPPORTED || result == VK_ERROR_INCOMPATIBLE_DRIVER)
    failure = Failure::Unsupported;
  std::string where = std::string(file) + ":" + std::to_string(line);
  throw DeviceError(failure, std::string("Vulkan call ") + call + " failed with " + result_name(result) +
                                 " (" + where + ")",
                    result);
}

}  // namespace lattice::gpu
