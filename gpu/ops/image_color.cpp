#include "gpu/ops/image_color.h"

#include <cmath>

#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/error.h"
#include "gpu/ops/grid.h"
#include "gpu/ops/image_color_infos.h"
#include "gpu/shaders/image_color.spv.h"

namespace lattice::gpu {

static_assert(sizeof(ImageColorPush) == 6 * 4, "ImageColorPush must match image_color_infos.h");

static const KernelDesc kImageColor{"image_color", lattice_spv_image_color,
                                    {BindingKind::Storage, BindingKind::Storage}, sizeof(ImageColorPush)};

// Shared by both twins so that the device sees exactly the host's f32 gain and exponent.
static float gain_of(const ImageColorParams& p) { return std::exp2(p.exposure); }
static float inv_gamma_of(const ImageColorParams& p) { return 1.0f / p.gamma; }

Tensor image_color(CommandStream& stream, const Tensor& image, const ImageColorParams& params) {
  if (image.dtype() != DType::F32 || !image.contiguous() || image.rank() != 3 || image.dim(2) < 1 || image.dim(2) > 4)
    throw_unsupported("image colour of " + image.describe() + ": needs a contiguous f32 [H, W, 1..4] tensor");
  if (image.numel() > 0xFFFFFFFFll) throw_unsupported("image colour of " + image.describe() + ": too large");
  Context& ctx = stream.context();
  Tensor out = Tensor::empty(ctx, image.shape(), DType::F32);
  if (out.numel() == 0) return out;
  ImageColorPush push{static_cast<uint32_t>(image.dim(0) * image.dim(1)), static_cast<uint32_t>(image.dim(2)),
                      static_cast<uint32_t>(image.offset()), gain_of(params), inv_gamma_of(params), params.saturation};
  Arg args[] = {{image.buffer()}, {out.buffer()}};
  auto g = grid_1d(push.pixels, IMAGE_COLOR_LOCAL_SIZE);
  stream.dispatch(ctx.pipelines().get(kImageColor), args, &push, sizeof(push), g[0], g[1], g[2]);
  return out;
}

void image_color_cpu(std::span<const float> in, std::span<float> out, int channels, const ImageColorParams& params) {
  const float gain = gain_of(params), inv_gamma = inv_gamma_of(params), sat = params.saturation;
  const int cc = channels >= 3 ? 3 : 1;  // colour channels; the rest is alpha
  const size_t n = in.size() / static_cast<size_t>(channels);
  for (size_t i = 0; i < n; ++i) {
    const float* src = &in[i * channels];
    float* o = &out[i * channels];
    float v[3];
    for (int c = 0; c < cc; ++c) {
      float x = src[c] * gain;
      v[c] = x > 0 ? std::pow(x, inv_gamma) : x;
    }
    if (cc == 3) {
      const float luma = 0.2126f * v[0] + 0.7152f * v[1] + 0.0722f * v[2];
      for (int c = 0; c < 3; ++c) v[c] = luma + (v[c] - luma) * sat;
    }
    for (int c = 0; c < cc; ++c) o[c] = v[c];
    for (int c = cc; c < channels; ++c) o[c] = src[c];
  }
}

}  // namespace lattice::gpu
