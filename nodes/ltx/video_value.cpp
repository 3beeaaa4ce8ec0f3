#include "nodes/ltx/video_value.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace lattice {

std::shared_ptr<const VideoData> ltx_video_value(const std::vector<int64_t>& shape, const std::vector<float>& decoded,
                                                 double frame_rate) {
  if (shape.size() != 5 || shape[0] != 1 || shape[1] != 3) throw_eval("LTX-Video: decoded video should be [1, 3, T, H, W]");
  if (!(frame_rate > 0)) throw_eval("LTX-Video: the frame rate must be positive");
  const int64_t T = shape[2], H = shape[3], W = shape[4], plane = H * W;
  std::vector<ImagePtr> frames;
  frames.reserve(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    auto img = std::make_shared<ImageData>(static_cast<int>(W), static_cast<int>(H), 3);
    for (int64_t c = 0; c < 3; ++c) {
      const float* src = decoded.data() + (c * T + t) * plane;
      for (int64_t i = 0; i < plane; ++i) img->pixels[static_cast<size_t>(i * 3 + c)] = std::clamp(src[i] / 2.0f + 0.5f, 0.0f, 1.0f);
    }
    frames.push_back(std::move(img));
  }
  const auto [num, den] = ltx_frame_rate(frame_rate);
  return std::make_shared<VideoData>(std::move(frames), num, den);
}

std::vector<float> ltx_vae_pixels(const std::vector<const ImageData*>& frames) {
  if (frames.empty()) throw_eval("LTX-Video: no frames to encode");
  const size_t T = frames.size(), W = static_cast<size_t>(frames[0]->width), H = static_cast<size_t>(frames[0]->height);
  const size_t plane = W * H;
  std::vector<float> out(3 * T * plane);
  for (size_t t = 0; t < T; ++t) {
    const ImageData& img = *frames[t];
    const int grey = img.channels < 3 ? 0 : -1;  // 1 or 2 channels: the first is the grey value
    for (int k = 0; k < 3; ++k) {
      float* dst = out.data() + (static_cast<size_t>(k) * T + t) * plane;
      const int c = grey >= 0 ? grey : k;
      for (size_t y = 0; y < H; ++y)
        for (size_t x = 0; x < W; ++x)
          dst[y * W + x] = img.at(static_cast<int>(x), static_cast<int>(y), c) * 2.0f - 1.0f;
    }
  }
  return out;
}

std::pair<int, int> ltx_frame_rate(double frame_rate) {
  int num = static_cast<int>(std::lround(frame_rate)), den = 1;
  if (std::fabs(frame_rate - num) > 1e-6) {
    const double ntsc = frame_rate * 1.001;
    if (std::fabs(ntsc - std::round(ntsc)) < 1e-3) {
      num = static_cast<int>(std::lround(ntsc)) * 1000, den = 1001;
    } else {
      num = static_cast<int>(std::lround(frame_rate * 1000)), den = 1000;
    }
  }
  return {num, den};
}

}  // namespace lattice
