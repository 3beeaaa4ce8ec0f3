#include "nodes/models/latent_preview.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "core/error.h"

namespace lattice {

LatentRgbProjection fit_latent_rgb(const std::vector<float>& latents, const std::vector<float>& rgb, int channels) {
  const int n = channels + 1;  // unknowns per colour: weights and the bias
  const size_t samples = rgb.size() / 3;
  if (channels < 1 || latents.size() != samples * static_cast<size_t>(channels) || rgb.size() != samples * 3)
    throw_eval("latent preview fit: " + std::to_string(latents.size()) + " latent values and " +
               std::to_string(rgb.size()) + " colour values do not pair up with " + std::to_string(channels) + " channels");
  if (samples < static_cast<size_t>(n))
    throw_eval("latent preview fit needs at least " + std::to_string(n) + " samples, got " + std::to_string(samples));
  // Normal equations (XᵀX + λI) β = XᵀY in double, X = [z, 1].
  std::vector<double> a(static_cast<size_t>(n) * n, 0.0), y(static_cast<size_t>(n) * 3, 0.0);
  std::vector<double> row(n);
  for (size_t s = 0; s < samples; ++s) {
    for (int c = 0; c < channels; ++c) row[c] = latents[s * channels + c];
    row[channels] = 1.0;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) a[static_cast<size_t>(i) * n + j] += row[i] * row[j];
      for (int k = 0; k < 3; ++k) y[static_cast<size_t>(i) * 3 + k] += row[i] * rgb[s * 3 + k];
    }
  }
  double trace = 0;
  for (int i = 0; i < n; ++i) trace += a[static_cast<size_t>(i) * n + i];
  const double ridge = 1e-9 * trace / n;
  for (int i = 0; i < channels; ++i) a[static_cast<size_t>(i) * n + i] += ridge;  // not on the bias
  // Gaussian elimination with partial pivoting (n is the latent channel count + 1: tiny).
  for (int col = 0; col < n; ++col) {
    int piv = col;
    for (int r = col + 1; r < n; ++r)
      if (std::abs(a[static_cast<size_t>(r) * n + col]) > std::abs(a[static_cast<size_t>(piv) * n + col])) piv = r;
    if (std::abs(a[static_cast<size_t>(piv) * n + col]) < 1e-300) throw_eval("latent preview fit is singular");
    if (piv != col) {
      for (int j = 0; j < n; ++j) std::swap(a[static_cast<size_t>(col) * n + j], a[static_cast<size_t>(piv) * n + j]);
      for (int k = 0; k < 3; ++k) std::swap(y[static_cast<size_t>(col) * 3 + k], y[static_cast<size_t>(piv) * 3 + k]);
    }
    for (int r = 0; r < n; ++r) {
      if (r == col) continue;
      const double f = a[static_cast<size_t>(r) * n + col] / a[static_cast<size_t>(col) * n + col];
      if (f == 0) continue;
      for (int j = col; j < n; ++j) a[static_cast<size_t>(r) * n + j] -= f * a[static_cast<size_t>(col) * n + j];
      for (int k = 0; k < 3; ++k) y[static_cast<size_t>(r) * 3 + k] -= f * y[static_cast<size_t>(col) * 3 + k];
    }
  }
  LatentRgbProjection p;
  p.channels = channels;
  p.weights.resize(static_cast<size_t>(3) * channels);
  p.bias.resize(3);
  for (int k = 0; k < 3; ++k) {
    for (int c = 0; c < channels; ++c)
      p.weights[static_cast<size_t>(k) * channels + c] =
          static_cast<float>(y[static_cast<size_t>(c) * 3 + k] / a[static_cast<size_t>(c) * n + c]);
    p.bias[k] = static_cast<float>(y[static_cast<size_t>(channels) * 3 + k] / a[static_cast<size_t>(channels) * n + channels]);
  }
  return p;
}

LatentRgbProjection fit_latent_rgb_from_encoder(int downscale, int channels, const LatentEncodeFn& encode) {
  // 27 colours from {0, 0.5, 1}³ and 5 in between: 8 columns × 4 rows of 4×4-latent-pixel patches.
  std::vector<std::array<float, 3>> colours;
  for (float r : {0.0f, 0.5f, 1.0f})
    for (float g : {0.0f, 0.5f, 1.0f})
      for (float b : {0.0f, 0.5f, 1.0f}) colours.push_back({r, g, b});
  for (const auto& c : {std::array<float, 3>{0.25f, 0.75f, 0.4f}, {0.8f, 0.3f, 0.6f}, {0.15f, 0.2f, 0.85f},
                        {0.9f, 0.85f, 0.2f}, {0.6f, 0.45f, 0.3f}})
    colours.push_back(c);
  constexpr int kCols = 8, kRows = 4, kPatch = 4;
  const int lh = kRows * kPatch, lw = kCols * kPatch, H = lh * downscale, W = lw * downscale;
  std::vector<float> image(static_cast<size_t>(3) * H * W);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const auto& c = colours[static_cast<size_t>(y / (kPatch * downscale)) * kCols + x / (kPatch * downscale)];
      for (int k = 0; k < 3; ++k) image[(static_cast<size_t>(k) * H + y) * W + x] = c[k] * 2.0f - 1.0f;
    }
  const std::vector<float> z = encode(image, H, W);
  if (z.size() != static_cast<size_t>(channels) * lh * lw)
    throw_eval("latent preview fit: the encoder returned " + std::to_string(z.size()) + " values, expected " +
               std::to_string(static_cast<size_t>(channels) * lh * lw));
  std::vector<float> lat, rgb;
  for (int py = 0; py < kRows; ++py)
    for (int px = 0; px < kCols; ++px)
      for (int dy = 1; dy < 3; ++dy)
        for (int dx = 1; dx < 3; ++dx) {
          const int y = py * kPatch + dy, x = px * kPatch + dx;
          for (int c = 0; c < channels; ++c) lat.push_back(z[(static_cast<size_t>(c) * lh + y) * lw + x]);
          for (float v : colours[static_cast<size_t>(py) * kCols + px]) rgb.push_back(v);
        }
  return fit_latent_rgb(lat, rgb, channels);
}

std::shared_ptr<ImageData> project_latent_rgb(const LatentRgbProjection& p, const std::vector<float>& latent, int h, int w) {
  const size_t plane = static_cast<size_t>(h) * w;
  if (latent.size() != plane * p.channels)
    throw_eval("latent preview: " + std::to_string(latent.size()) + " values are not " + std::to_string(p.channels) +
               " channels of " + std::to_string(w) + "x" + std::to_string(h));
  auto img = std::make_shared<ImageData>(w, h, 3);
  for (size_t i = 0; i < plane; ++i)
    for (int k = 0; k < 3; ++k) {
      float v = p.bias[k];
      for (int c = 0; c < p.channels; ++c) v += p.weights[static_cast<size_t>(k) * p.channels + c] * latent[c * plane + i];
      img->pixels[i * 3 + k] = std::clamp(v, 0.0f, 1.0f);
    }
  return img;
}

std::shared_ptr<ImageData> preview_channels(const std::vector<float>& latent, int channels, int h, int w) {
  const size_t plane = static_cast<size_t>(h) * w;
  if (channels < 1 || latent.size() != plane * channels)
    throw_eval("latent preview: " + std::to_string(latent.size()) + " values are not " + std::to_string(channels) +
               " channels of " + std::to_string(w) + "x" + std::to_string(h));
  auto img = std::make_shared<ImageData>(w, h, 3);
  for (int k = 0; k < 3; ++k) {
    const float* src = latent.data() + static_cast<size_t>(std::min(k, channels - 1)) * plane;
    const auto [lo, hi] = std::minmax_element(src, src + plane);
    const float scale = *hi > *lo ? 1.0f / (*hi - *lo) : 0.0f;
    for (size_t i = 0; i < plane; ++i) img->pixels[i * 3 + k] = (src[i] - *lo) * scale;
  }
  return img;
}

}  // namespace lattice
