#include "nodes/models/latent_preview.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"

namespace lattice {
namespace {

TEST(LatentPreview, FitRecoversAnExactLinearMap) {
  const int C = 5;
  std::mt19937 rng(7);
  std::normal_distribution<float> n01;
  std::vector<float> w(3 * C), b{0.1f, -0.2f, 0.3f}, lat, rgb;
  for (auto& v : w) v = n01(rng);
  for (int s = 0; s < 40; ++s) {
    float z[C];
    for (auto& v : z) v = n01(rng);
    lat.insert(lat.end(), z, z + C);
    for (int k = 0; k < 3; ++k) {
      float v = b[k];
      for (int c = 0; c < C; ++c) v += w[k * C + c] * z[c];
      rgb.push_back(v);
    }
  }
  const LatentRgbProjection p = fit_latent_rgb(lat, rgb, C);
  ASSERT_EQ(p.channels, C);
  for (int i = 0; i < 3 * C; ++i) EXPECT_NEAR(p.weights[i], w[i], 1e-4) << i;
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(p.bias[k], b[k], 1e-4) << k;
}

TEST(LatentPreview, FitFromAnEncoderInvertsItsColourMapping) {
  // A linear "VAE encoder": 4 latent channels mixing the colours, downscale 2 (block average).
  const float mix[4][3] = {{0.5f, 0.2f, -0.1f}, {-0.3f, 0.8f, 0.1f}, {0.2f, -0.4f, 0.9f}, {0.3f, 0.3f, 0.3f}};
  int calls = 0;
  auto encode = [&](const std::vector<float>& x, int H, int W) {
    ++calls;
    const int h = H / 2, w = W / 2;
    std::vector<float> z(static_cast<size_t>(4) * h * w);
    for (int c = 0; c < 4; ++c)
      for (int y = 0; y < h; ++y)
        for (int xx = 0; xx < w; ++xx) {
          float v = 0.05f * c;
          for (int k = 0; k < 3; ++k) v += mix[c][k] * x[(static_cast<size_t>(k) * H + 2 * y) * W + 2 * xx];
          z[(static_cast<size_t>(c) * h + y) * w + xx] = v;
        }
    return z;
  };
  const LatentRgbProjection p = fit_latent_rgb_from_encoder(2, 4, encode);
  EXPECT_EQ(calls, 1);
  // Encode one colour and project it back: the colour returns.
  const float colour[3] = {0.7f, 0.2f, 0.45f};
  std::vector<float> img(3 * 4 * 4);
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 16; ++i) img[k * 16 + i] = colour[k] * 2 - 1;
  const auto out = project_latent_rgb(p, encode(img, 4, 4), 2, 2);
  ASSERT_EQ(out->width, 2);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(out->at(1, 1, k), colour[k], 1e-4) << k;
}

TEST(LatentPreview, ChannelPreviewStretchesEachChannel) {
  // 2 channels of 2x1: the third colour repeats the last channel.
  const auto img = preview_channels({-1.0f, 3.0f, 5.0f, 5.0f}, 2, 1, 2);
  EXPECT_FLOAT_EQ(img->at(0, 0, 0), 0.0f);
  EXPECT_FLOAT_EQ(img->at(1, 0, 0), 1.0f);
  EXPECT_FLOAT_EQ(img->at(0, 0, 1), 0.0f);  // a flat channel maps to 0, not NaN
  EXPECT_FLOAT_EQ(img->at(1, 0, 2), 0.0f);
}

TEST(LatentPreview, MismatchedSizesAreErrors) {
  EXPECT_THROW(fit_latent_rgb({1, 2, 3}, {1, 2, 3}, 2), Error);
  EXPECT_THROW(fit_latent_rgb({1, 2}, {1, 2, 3}, 2), Error);  // fewer samples than unknowns
  LatentRgbProjection p{2, std::vector<float>(6), std::vector<float>(3)};
  EXPECT_THROW(project_latent_rgb(p, std::vector<float>(7), 2, 2), Error);
  EXPECT_THROW(preview_channels(std::vector<float>(7), 2, 2, 2), Error);
}

}  // namespace
}  // namespace lattice
