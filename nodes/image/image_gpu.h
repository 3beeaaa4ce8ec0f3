#pragma once
/// Moving host images to and from the device for the image nodes that compute on it.
///
/// An ImageData is interleaved f32, so it maps one to one onto a contiguous f32 tensor [H, W, C]. The
/// copies are synchronous host round trips (see gpu/tensor.h): call them outside a recorded batch.
/// An image larger than one device buffer (Device::max_buffer_bytes(), 128 MiB on lavapipe: a 4096 x 4096
/// RGBA f32 image is 256 MiB) moves in bands of whole rows: image_band_rows() says how many rows fit.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/types/image.h"
#include "gpu/context.h"
#include "gpu/device.h"
#include "gpu/error.h"
#include "gpu/tensor.h"

namespace lattice {

/// [height, width, channels] copy of `img` on the device.
inline gpu::Tensor image_to_tensor(gpu::Context& ctx, const ImageData& img) {
  return gpu::Tensor::from_floats(ctx, img.pixels, {img.height, img.width, img.channels});
}

/// Rows of `row_floats` f32 values each that fit one device buffer (at least 1, at most `height`). Throws
/// the device's error when not even one row fits.
inline int image_band_rows(gpu::Context& ctx, int64_t row_floats, int height) {
  const uint64_t limit = ctx.device().max_buffer_bytes();
  const uint64_t row_bytes = static_cast<uint64_t>(row_floats) * sizeof(float);
  if (row_bytes > limit)
    gpu::throw_unsupported("an image row of " + std::to_string(row_bytes) +
                           " bytes exceeds the device's largest buffer (" + std::to_string(limit) + " bytes)");
  return static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(height), limit / row_bytes));
}

/// [rows, width, channels] copy of rows first .. first + rows - 1 of `img` on the device.
inline gpu::Tensor image_rows_to_tensor(gpu::Context& ctx, const ImageData& img, int first, int rows) {
  const size_t row = static_cast<size_t>(img.width) * img.channels;
  return gpu::Tensor::from_floats(
      ctx, std::span<const float>(img.pixels.data() + row * static_cast<size_t>(first), row * static_cast<size_t>(rows)),
      {rows, img.width, img.channels});
}

/// Copies a contiguous [rows, W, C] tensor into `out`'s rows from `first` (W and C must be out's).
inline void tensor_to_image_rows(const gpu::Tensor& t, ImageData& out, int first) {
  const std::vector<float> v = t.to_floats();
  std::memcpy(out.pixels.data() + static_cast<size_t>(first) * out.width * out.channels, v.data(), v.size() * sizeof(float));
}

/// A new ImageData holding a contiguous [H, W, C] f32 tensor; `linear` is carried over from the source.
inline std::shared_ptr<ImageData> tensor_to_image(const gpu::Tensor& t, bool linear) {
  auto out = std::make_shared<ImageData>(static_cast<int>(t.dim(1)), static_cast<int>(t.dim(0)),
                                         static_cast<int>(t.dim(2)), linear);
  out->pixels = t.to_floats();
  return out;
}

}  // namespace lattice
