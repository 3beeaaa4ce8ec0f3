#include "nodes/types/tensor_value.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/types/image.h"
#include "gpu/allocator.h"
#include "nodes/gpu_service.h"

namespace lattice {
namespace {

TEST(TensorValue, LatentsPreviewAsFalseColourOfTheFirstEntry) {
  // [B=2, C=3, h=2, w=3]: batch 0's channel k holds k*10 + pixel index; batch 1 is ignored.
  std::vector<float> v(2 * 3 * 2 * 3);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i / 6) * 10 + i % 6);
  const TensorValue latent(PortType::Latent, HostTensor::from_f32({2, 3, 2, 3}, v));
  const auto img = latent.preview_image();
  ASSERT_TRUE(img);
  EXPECT_EQ(img->width, 3);
  EXPECT_EQ(img->height, 2);
  EXPECT_EQ(img->channels, 3);
  for (int k = 0; k < 3; ++k) {
    EXPECT_FLOAT_EQ(img->at(0, 0, k), 0.0f);  // each channel stretched from its minimum...
    EXPECT_FLOAT_EQ(img->at(2, 1, k), 1.0f);  // ...to its maximum
    EXPECT_FLOAT_EQ(img->at(1, 0, k), 0.2f);
  }
}

TEST(TensorValue, VideoLatentsPreviewTheirFirstFrame) {
  // [1, C=1, T=2, h=1, w=2]: frame 0 is (0, 1), frame 1 is (5, 5).
  const TensorValue latent(PortType::Latent, HostTensor::from_f32({1, 1, 2, 1, 2}, {0, 1, 5, 5}));
  const auto img = latent.preview_image();
  ASSERT_TRUE(img);
  EXPECT_EQ(img->width, 2);
  EXPECT_FLOAT_EQ(img->at(0, 0, 0), 0.0f);
  EXPECT_FLOAT_EQ(img->at(1, 0, 2), 1.0f);
}

TEST(TensorValue, OtherTensorsHaveNoPreview) {
  EXPECT_EQ(TensorValue(PortType::Latent, HostTensor::from_f32({4}, {1, 2, 3, 4})).preview_image(), nullptr);
  EXPECT_EQ(TensorValue(PortType::Tensor, HostTensor::from_f32({1, 1, 1, 1}, {1})).preview_image(), nullptr);
}

TEST(TensorValue, SpillsToHostOnlyAsItsBuffersSoleHolderAndComesBackBitIdentical) {
  GpuService gpu;
  gpu::Context& gc = gpu.context();
  std::vector<float> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i) * 0.37f) * 1e3f;
  const TensorValue t(PortType::Latent, gpu::Tensor::from_floats(gc, v, {1, 10, 10, 10}));
  EXPECT_EQ(t.device_bytes(), 4000u);
  EXPECT_EQ(t.bytes(), sizeof(TensorValue) + 4000);
  const uint64_t before = gc.allocator().current_device_bytes();
  {
    const gpu::Tensor held = t.device(gc);  // a node computing with it
    EXPECT_EQ(t.spill_to_host(&gc), 0u);
  }
  const int another_device = 0;
  EXPECT_EQ(t.spill_to_host(&another_device), 0u);
  EXPECT_TRUE(t.on_device());

  EXPECT_EQ(t.spill_to_host(&gc), 4000u);
  EXPECT_FALSE(t.on_device());
  EXPECT_EQ(t.device_bytes(), 0u);
  EXPECT_EQ(t.bytes(), sizeof(TensorValue) + 4000);  // the bytes moved to the host
  EXPECT_EQ(gc.allocator().current_device_bytes(), before - 4000);
  EXPECT_EQ(t.spill_to_host(&gc), 0u);

  const gpu::Tensor back = t.device(gc);  // uploaded again, and remembered
  EXPECT_TRUE(t.on_device());
  EXPECT_EQ(back.shape(), (gpu::Shape{1, 10, 10, 10}));
  EXPECT_EQ(back.to_floats(), v);
  EXPECT_EQ(t.bytes(), sizeof(TensorValue) + 8000);  // both copies now; a second spill only frees
}

}  // namespace
}  // namespace lattice
