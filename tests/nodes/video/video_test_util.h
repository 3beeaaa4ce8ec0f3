#pragma once
// Synthetic frames and comparisons for the video tests.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>

#include "core/types/video.h"

namespace lattice::test {

/// A smooth colour gradient that moves with t: every channel in [0.1, 0.9], distinct per pixel and frame.
inline std::shared_ptr<ImageData> moving_gradient(int w, int h, int t, int channels = 3) {
  auto img = std::make_shared<ImageData>(w, h, channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const float u = static_cast<float>(x + 3 * t) / static_cast<float>(w + 30);
      const float v = static_cast<float>(y) / static_cast<float>(h);
      const float c[4] = {0.1f + 0.8f * u, 0.1f + 0.8f * v, 0.5f + 0.4f * std::sin(6.0f * (u + v)), 1.0f};
      for (int k = 0; k < channels; ++k) img->at(x, y, k) = c[k];
    }
  return img;
}

/// PSNR in dB of b against a over a's size and its first three channels (b may be larger: padding).
inline double psnr(const ImageData& a, const ImageData& b) {
  double se = 0;
  int64_t n = 0;
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x)
      for (int k = 0; k < 3; ++k, ++n) {
        const double d = static_cast<double>(a.at(x, y, k)) - b.at(x, y, k);
        se += d * d;
      }
  return 10.0 * std::log10(1.0 / std::max(se / static_cast<double>(n), 1e-12));
}

/// A fresh folder under the system temp directory, removed by the destructor.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace lattice::test
