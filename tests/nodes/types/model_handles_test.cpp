// Tests for nodes/types/model_handles.h: what a handle keeps besides its device weights.
#include "nodes/types/model_handles.h"

#include <gtest/gtest.h>

namespace lattice {
namespace {

TEST(ModelHandle, FitsThePreviewProjectionOnceAndKeepsIt) {
  const VaeHandle handle(nullptr, AutoencoderKLConfig{}, "test");
  int fits = 0;
  auto fit = [&] {
    ++fits;
    LatentRgbProjection p;
    p.channels = 2;
    p.weights = {1, 0, 0, 1, 0.5f, 0.5f};
    p.bias = {0, 0, static_cast<float>(fits)};
    return p;
  };
  const LatentRgbProjection& first = handle.preview_projection(fit);
  const LatentRgbProjection& again = handle.preview_projection(fit);
  EXPECT_EQ(fits, 1);
  EXPECT_EQ(&first, &again);
  EXPECT_EQ(again.channels, 2);
  EXPECT_EQ(again.bias[2], 1.0f);
  // Another handle (another checkpoint, or the same one with LoRA patches) fits its own.
  const VaeHandle other(nullptr, AutoencoderKLConfig{}, "other");
  EXPECT_EQ(other.preview_projection(fit).bias[2], 2.0f);
}

}  // namespace
}  // namespace lattice
