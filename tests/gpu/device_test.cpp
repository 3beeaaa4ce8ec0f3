#include "gpu/device.h"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "gpu/error.h"
#include "gpu/instance.h"
#include "tests/gpu/gpu_test.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

TEST_F(GpuTest, ValidationIsOnInTests) { EXPECT_TRUE(ctx().instance().validation_enabled()); }

TEST_F(GpuTest, ListsDevicesAsJson) {
  auto devices = list_devices(ctx().instance());
  ASSERT_FALSE(devices.empty());
  auto j = nlohmann::json::parse(devices[0].to_json());
  EXPECT_EQ(j["name"], devices[0].name);
  EXPECT_GT(j["max_storage_buffer_range"].get<uint64_t>(), 0u);
  EXPECT_TRUE(j["memory_heaps"].is_array());
  EXPECT_NE(devices[0].to_text().find(devices[0].name), std::string::npos);
}

TEST_F(GpuTest, SelectedDeviceIsUsable) {
  const DeviceInfo& info = ctx().device().info();
  EXPECT_TRUE(info.usable());
  EXPECT_GT(ctx().device().max_buffer_bytes(), 0u);
}

TEST_F(GpuTest, UnknownDeviceSelectorIsAClearError) {
  try {
    Device d(ctx().instance(), std::string("no-such-device-xyz"));
    FAIL() << "expected an error";
  } catch (const DeviceError& e) {
    EXPECT_EQ(e.failure(), Failure::Unsupported);
    EXPECT_EQ(e.exit_code(), 4);
    EXPECT_NE(std::string(e.what()).find("no-such-device-xyz"), std::string::npos);
  }
}

TEST_F(GpuTest, SelectorByIndexAndName) {
  Device by_index(ctx().instance(), std::string("0"));
  EXPECT_EQ(by_index.info().index, 0u);
  std::string name = by_index.info().name.substr(0, 4);
  Device by_name(ctx().instance(), name);
  EXPECT_NE(by_name.info().name.find(name), std::string::npos);
}

TEST(VkCheck, NamesTheCallAndClassifiesDeviceLoss) {
  try {
    LATTICE_VK_CHECK(VK_ERROR_DEVICE_LOST);
    FAIL();
  } catch (const DeviceError& e) {
    EXPECT_EQ(e.failure(), Failure::DeviceLost);
    EXPECT_EQ(e.result(), VK_ERROR_DEVICE_LOST);
    EXPECT_EQ(e.kind(), ErrorKind::Evaluation);
    EXPECT_NE(std::string(e.what()).find("VK_ERROR_DEVICE_LOST"), std::string::npos);
  }
  try {
    LATTICE_VK_CHECK(VK_ERROR_OUT_OF_DEVICE_MEMORY);
    FAIL();
  } catch (const DeviceError& e) {
    EXPECT_EQ(e.failure(), Failure::OutOfMemory);
  }
}

TEST_F(GpuTest, UniformTexelSupportIsTheDriversAnswer) {
  const Device& d = ctx().device();
  for (VkFormat f : {VK_FORMAT_R32G32B32A32_SFLOAT, VK_FORMAT_R32G32B32A32_UINT, VK_FORMAT_D32_SFLOAT}) {
    VkFormatProperties props;
    vkGetPhysicalDeviceFormatProperties(d.physical(), f, &props);
    const bool driver = (props.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT) != 0;
    EXPECT_EQ(d.supports_uniform_texel(f), driver) << "format " << f;
    EXPECT_EQ(d.supports_uniform_texel(f), driver) << "format " << f << ", asked again (cached)";
  }
}

}  // namespace
}  // namespace lattice::gpu
