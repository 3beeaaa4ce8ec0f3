#include "nodes/types/wan_vae_handle.h"

#include <algorithm>

#include "gpu/command_stream.h"
#include "nodes/models/vae/latent_sample.h"
#include "nodes/models/vae/tiling.h"

namespace lattice {

std::shared_ptr<VideoData> wan_video_from_decoded(const HostTensor& decoded, int fps) {
  const std::vector<float> v = decoded.to_f32();
  const int64_t F = decoded.shape.at(2), H = decoded.shape.at(3), W = decoded.shape.at(4), plane = H * W;
  std::vector<ImagePtr> frames;
  frames.reserve(static_cast<size_t>(F));
  for (int64_t f = 0; f < F; ++f) {
    auto img = std::make_shared<ImageData>(static_cast<int>(W), static_cast<int>(H), 3);
    for (int64_t c = 0; c < 3; ++c) {
      const float* src = v.data() + (c * F + f) * plane;
      for (int64_t i = 0; i < plane; ++i) img->pixels[static_cast<size_t>(i * 3 + c)] = std::clamp(src[i] / 2.0f + 0.5f, 0.0f, 1.0f);
    }
    frames.push_back(std::move(img));
  }
  return std::make_shared<VideoData>(std::move(frames), fps, 1);
}

std::vector<float> wan_encoder_input(const std::vector<ImagePtr>& frames) {
  const int64_t F = static_cast<int64_t>(frames.size()), H = frames.front()->height, W = frames.front()->width, plane = H * W;
  std::vector<float> x(static_cast<size_t>(3 * F * plane));
  for (int64_t f = 0; f < F; ++f) {
    const ImageData& img = *frames[static_cast<size_t>(f)];
    for (int64_t c = 0; c < 3; ++c) {
      const int k = img.channels >= 3 ? static_cast<int>(c) : 0;
      float* dst = x.data() + (c * F + f) * plane;
      for (int64_t i = 0; i < plane; ++i) dst[i] = img.pixels[static_cast<size_t>(i * img.channels + k)] * 2.0f - 1.0f;
    }
  }
  return x;
}

gpu::Tensor wan_encode_normalized(gpu::CommandStream& s, const WanVae& vae, const std::vector<float>& video, const gpu::Shape& shape,
                                  int64_t& auto_tile, std::optional<uint64_t> sample_seed) {
  const WanVaeConfig& c = vae.config();
  const int64_t f = c.spatial_compression(), h = shape.at(3) / f, w = shape.at(4) / f;
  const int64_t fit = c.largest_encode_tile(auto_tile_tensor_limit(s.context().device().max_buffer_bytes(), s.context().memory_budget(), WanVaeConfig::kWorkingSetFactor), h, w);
  auto_tile = fit < h || fit < w ? fit : 0;
  const auto [mean, logvar] = vae.encode_tiled(s, video, shape, auto_tile, std::min<int64_t>(8, std::max<int64_t>(fit - 1, 0)));
  return vae.normalize(s, sample_seed ? sample_latent(s, mean, logvar, *sample_seed) : mean);
}

}  // namespace lattice
