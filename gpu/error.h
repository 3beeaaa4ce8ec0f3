#pragma once
/// Errors from gpu/. The gpu layer throws lattice::Error (core/error.h, header-only; gpu/ uses nothing else
/// from core/) with ErrorKind::Evaluation, so the command line exits 4 for any device failure. The subclass
/// gpu::DeviceError adds `failure()` so a caller can tell device loss and out-of-memory apart from an
/// unsupported request without parsing the message. No Vulkan call's failure is ever ignored or fatal:
/// every VkResult goes through LATTICE_VK_CHECK, which names the call in the message.

#include <vulkan/vulkan.h>

#include <string>

#include "core/error.h"

namespace lattice::gpu {

enum class Failure {
  DeviceLost,   ///< VK_ERROR_DEVICE_LOST: the device and everything on it is gone; recreate the Context
  OutOfMemory,  ///< host or device memory exhausted, or the Context's memory budget would be exceeded
  Unsupported,  ///< the device or the op cannot do what was asked (too large, missing feature, dtype)
  Vulkan,       ///< any other Vulkan failure
};

class DeviceError : public lattice::Error {
 public:
  DeviceError(Failure failure, const std::string& message, VkResult result = VK_SUCCESS)
      : lattice::Error(ErrorKind::Evaluation, message), failure_(failure), result_(result) {}
  Failure failure() const { return failure_; }
  /// The VkResult that caused it, VK_SUCCESS when the error was found by Lattice itself.
  VkResult result() const { return result_; }

 private:
  Failure failure_;
  VkResult result_;
};

const char* result_name(VkResult result);

/// Throws the DeviceError matching `result`; `call` is the source text of the failing call.
[[noreturn]] void throw_vk(VkResult result, const char* call, const char* file, int line);

[[noreturn]] inline void throw_unsupported(const std::string& message) {
  throw DeviceError(Failure::Unsupported, message);
}

}  // namespace lattice::gpu

/// Checks a VkResult-returning call; anything but VK_SUCCESS throws a DeviceError naming the call.
#define LATTICE_VK_CHECK(call)                                                    \
  do {                                                                            \
    VkResult lattice_vk_result_ = (call);                                         \
    if (lattice_vk_result_ != VK_SUCCESS)                                         \
      ::lattice::gpu::throw_vk(lattice_vk_result_, #call, __FILE__, __LINE__);    \
  } while (0)
