#pragma once
/// Colour adjustment of an interleaved image (the pixel work of the image.color node), on the device and
/// on the CPU.
///
/// Layout: f32 HWC tensors [H, W, C], C in 1..4; colour channels are the first three when C >= 3, else the
/// first one; the rest (alpha) is copied. Math, per colour channel: x = v * 2^exposure; x = x^(1/gamma) when
/// x > 0 (zero, negatives and NaN pass through); then for three colour channels x = luma + (x - luma) * sat
/// with Rec. 709 luma. Accuracy: image_color() rounds every add and multiply as image_color_cpu() does; only
/// pow differs (the driver's exp2/log2), see tests/gpu/ops/image_color_test.cpp for the measured bound.
/// image_color() records one dispatch; nothing is submitted.

#include <span>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

struct ImageColorParams {
  float exposure = 0.0f;    ///< stops
  float gamma = 1.0f;       ///< > 0
  float saturation = 1.0f;  ///< 0 = grey, 1 = unchanged
};

/// A new contiguous [H, W, C] f32 tensor. Throws DeviceError unless `image` is a contiguous f32 [H, W, 1..4].
Tensor image_color(CommandStream& stream, const Tensor& image, const ImageColorParams& params);

/// The CPU twin: `in` and `out` hold the same number of interleaved pixels of `channels` (1..4) floats.
void image_color_cpu(std::span<const float> in, std::span<float> out, int channels, const ImageColorParams& params);

}  // namespace lattice::gpu
