#pragma once
/// Moving host images to and from the device for the image nodes that compute on it.
///
/// An ImageData is interleaved f32, so it maps one to one onto a contiguous f32 tensor [H, W, C]. Both
/// functions are synchronous host round trips (see gpu/tensor.h): call them outside a recorded batch.

#include <memory>

#include "core/types/image.h"
#include "gpu/tensor.h"

namespace lattice {

/// [height, width, channels] copy of `img` on the device.
inline gpu::Tensor image_to_tensor(gpu::Context& ctx, const ImageData& img) {
  return gpu::Tensor::from_floats(ctx, img.pixels, {img.height, img.width, img.channels});
}

/// A new ImageData holding a contiguous [H, W, C] f32 tensor; `linear` is carried over from the source.
inline std::shared_ptr<ImageData> tensor_to_image(const gpu::Tensor& t, bool linear) {
  auto out = std::make_shared<ImageData>(static_cast<int>(t.dim(1)), static_cast<int>(t.dim(0)),
                                         static_cast<int>(t.dim(2)), linear);
  out->pixels = t.to_floats();
  return out;
}

}  // namespace lattice
