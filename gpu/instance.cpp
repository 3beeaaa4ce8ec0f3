#include "gpu/instance.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "gpu/error.h"

namespace lattice::gpu {

namespace {
std::atomic<uint64_t> g_process_errors{0};
}  // namespace

bool validation_requested() {
  const char* v = std::getenv("LATTICE_VULKAN_VALIDATION");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

static bool has_layer(const char* name) {
  uint32_t count = 0;
  LATTICE_VK_CHECK(vkEnumerateInstanceLayerProperties(&count, nullptr));
  std::vector<VkLayerProperties> layers(count);
  LATTICE_VK_CHECK(vkEnumerateInstanceLayerProperties(&count, layers.data()));
  for (const auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return true;
  return false;
}

Instance::Instance(bool validation) {
  constexpr const char* kLayer = "VK_LAYER_KHRONOS_validation";
  if (validation && !has_layer(kLayer))
    throw_unsupported("LATTICE_VULKAN_VALIDATION=1 but VK_LAYER_KHRONOS_validation is not installed");

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "Lattice";
  app.pEngineName = "Lattice";
  app.apiVersion = VK_API_VERSION_1_2;
  std::vector<const char*> layers, extensions;
  if (validation) {
    layers.push_back(kLayer);
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  info.enabledLayerCount = static_cast<uint32_t>(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  LATTICE_VK_CHECK(vkCreateInstance(&info, nullptr, &instance_));

  if (validation) {
    VkDebugUtilsMessengerCreateInfoEXT m{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    m.messageSeverity =
        VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    m.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    m.pfnUserCallback = &Instance::on_message;
    m.pUserData = this;
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    if (create == nullptr) {
      vkDestroyInstance(instance_, nullptr);
      throw_unsupported("vkCreateDebugUtilsMessengerEXT is missing although VK_EXT_debug_utils was enabled");
    }
    VkResult r = create(instance_, &m, nullptr, &messenger_);
    if (r != VK_SUCCESS) {
      vkDestroyInstance(instance_, nullptr);
      throw_vk(r, "vkCreateDebugUtilsMessengerEXT", __FILE__, __LINE__);
    }
  }
}

Instance::~Instance() {
  if (messenger_ != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy != nullptr) destroy(instance_, messenger_, nullptr);
  }
  vkDestroyInstance(instance_, nullptr);
}

std::vector<VkPhysicalDevice> Instance::physical_devices() const {
  uint32_t count = 0;
  LATTICE_VK_CHECK(vkEnumeratePhysicalDevices(instance_, &count, nullptr));
  std::vector<VkPhysicalDevice> devices(count);
  LATTICE_VK_CHECK(vkEnumeratePhysicalDevices(instance_, &count, devices.data()));
  return devices;
}

uint64_t Instance::process_validation_errors() { return g_process_errors.load(); }

VkBool32 Instance::on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT,
                              const VkDebugUtilsMessengerCallbackDataEXT* data, void* self) {
  bool error = (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) != 0;
  if (error) {
    static_cast<Instance*>(self)->errors_.fetch_add(1);
    g_process_errors.fetch_add(1);
  }
  std::fprintf(stderr, "[vulkan %s] %s\n", error ? "error" : "warning", data->pMessage ? data->pMessage : "");
  return VK_FALSE;  // never abort the call: the counter is how tests fail
}

}  // namespace lattice::gpu
