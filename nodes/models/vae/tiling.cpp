#include "nodes/models/vae/tiling.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace lattice {

std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap) {
  std::vector<int64_t> starts;
  for (int64_t i = 0;; i += tile - overlap) {
    if (i + tile >= size) {
      starts.push_back(std::max<int64_t>(0, size - tile));
      break;
    }
    starts.push_back(i);
  }
  return starts;
}

std::vector<float> tile_axis_weights(int64_t len, int64_t ramp, bool ramp_lo, bool ramp_hi) {
  std::vector<float> w(static_cast<size_t>(len), 1.0f);
  // The +0.5 keeps every weight positive.
  for (int64_t i = 0; i < len && ramp > 0; ++i) {
    if (ramp_lo) w[i] = std::min(w[i], (static_cast<float>(i) + 0.5f) / static_cast<float>(ramp));
    if (ramp_hi) w[i] = std::min(w[i], (static_cast<float>(len - 1 - i) + 0.5f) / static_cast<float>(ramp));
  }
  return w;
}

std::vector<std::vector<std::vector<float>>> tile_blend_weights(int64_t H, int64_t W, int64_t th, int64_t tw,
                                                                 const std::vector<int64_t>& ys,
                                                                 const std::vector<int64_t>& xs, int64_t ramp) {
  // Each tile's weight is the product of its axis ramps; dividing by the per-pixel sum over all tiles turns
  // the blend into a plain accumulation, with no final divide.
  std::vector<std::vector<std::vector<float>>> m(ys.size(), std::vector<std::vector<float>>(xs.size()));
  std::vector<float> total(static_cast<size_t>(H * W), 0.0f);
  for (size_t a = 0; a < ys.size(); ++a)
    for (size_t b = 0; b < xs.size(); ++b) {
      const std::vector<float> wy = tile_axis_weights(th, ramp, ys[a] > 0, ys[a] + th < H);
      const std::vector<float> wx = tile_axis_weights(tw, ramp, xs[b] > 0, xs[b] + tw < W);
      std::vector<float>& t = m[a][b];
      t.resize(static_cast<size_t>(th * tw));
      for (int64_t i = 0; i < th; ++i)
        for (int64_t j = 0; j < tw; ++j) {
          t[i * tw + j] = wy[i] * wx[j];
          total[(ys[a] + i) * W + xs[b] + j] += t[i * tw + j];
        }
    }
  for (size_t a = 0; a < ys.size(); ++a)
    for (size_t b = 0; b < xs.size(); ++b)
      for (int64_t i = 0; i < th; ++i)
        for (int64_t j = 0; j < tw; ++j) m[a][b][i * tw + j] /= total[(ys[a] + i) * W + xs[b] + j];
  return m;
}

TileGrid::TileGrid(int64_t h, int64_t w, int64_t tile, int64_t overlap, int64_t scale, const std::string& what)
    : tiled_(tile > 0 && (tile < h || tile < w)), h_(h), w_(w), scale_(scale) {
  if (tiled_ && (overlap < 0 || overlap >= tile))
    throw_eval(what + ": overlap " + std::to_string(overlap) + " must be in [0, tile " + std::to_string(tile) + ")");
  th_ = tiled_ ? std::min(tile, h) : h;
  tw_ = tiled_ ? std::min(tile, w) : w;
  ys_ = tiled_ ? tile_starts(h, tile, overlap) : std::vector<int64_t>{0};
  xs_ = tiled_ ? tile_starts(w, tile, overlap) : std::vector<int64_t>{0};
  std::vector<int64_t> py = ys_, px = xs_;
  for (int64_t& v : py) v *= scale;
  for (int64_t& v : px) v *= scale;
  weights_ = tile_blend_weights(h * scale, w * scale, th_ * scale, tw_ * scale, py, px, tiled_ ? overlap * scale : 0);
}

void TileGrid::accumulate(float* acc, std::span<const float> tile, size_t a, size_t b) const {
  const int64_t TH = out_tile_h(), TW = out_tile_w(), H = h_ * scale_, W = w_ * scale_;
  if (tile.size() % static_cast<size_t>(TH * TW) != 0)
    throw_eval("tiled VAE: a decoded tile holds " + std::to_string(tile.size()) + " values, not whole " +
               std::to_string(TH) + "x" + std::to_string(TW) + " planes");
  const int64_t y0 = ys_[a] * scale_, x0 = xs_[b] * scale_, planes = static_cast<int64_t>(tile.size()) / (TH * TW);
  const std::vector<float>& m = weights_[a][b];
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < TH; ++r) {
      float* dst = acc + (p * H + y0 + r) * W + x0;
      const float* src = tile.data() + (p * TH + r) * TW;
      const float* wr = m.data() + r * TW;
      for (int64_t c = 0; c < TW; ++c) dst[c] += wr[c] * src[c];
    }
}

std::vector<float> video_window(std::span<const float> video, int64_t planes, int64_t T, int64_t H, int64_t W, int64_t t0,
                                int64_t n, int64_t y0, int64_t h, int64_t x0, int64_t w) {
  std::vector<float> out(static_cast<size_t>(planes * n * h * w));
  float* dst = out.data();
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t t = t0; t < t0 + n; ++t)
      for (int64_t y = y0; y < y0 + h; ++y, dst += w) std::copy_n(video.data() + ((p * T + t) * H + y) * W + x0, w, dst);
  return out;
}

int64_t largest_fitting_tile(int64_t h, int64_t w, uint64_t max_buffer_bytes,
                             const std::function<uint64_t(int64_t th, int64_t tw)>& peak_bytes) {
  for (int64_t tile = std::max(h, w); tile > 1; --tile)
    if (peak_bytes(std::min(tile, h), std::min(tile, w)) <= max_buffer_bytes) return tile;
  return 1;
}

}  // namespace lattice
