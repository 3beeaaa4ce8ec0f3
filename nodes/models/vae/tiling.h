#pragma once
/// Spatial tiling for the VAEs (AutoencoderKL, WanVae and LtxVae, decode and encode): where the
/// overlapping tiles start along an axis, the linear blend weights across their overlaps, and TileGrid, the
/// one tile grid every tiled pass sets up and blends through.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace lattice {

/// Tile starts along one axis of `size`: every tile is `tile` long (the last one is pulled back to end at
/// the edge, so no tile is a thin sliver with too little context); consecutive tiles share at least
/// `overlap`. Needs 0 <= overlap < tile.
std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap);

/// Per-pixel weight of a tile along one axis: a linear ramp over `ramp` pixels on each side that meets a
/// neighbour (as diffusers' blend_h/blend_v), 1 elsewhere. Every weight is positive, so a normalising sum
/// over the tiles is never zero.
std::vector<float> tile_axis_weights(int64_t len, int64_t ramp, bool ramp_lo, bool ramp_hi);

/// Normalised 2-D blend weights of every tile of a tiling of an H x W output, tiles th x tw pixels at the
/// given pixel starts, ramps of `ramp` pixels: weights[i][j] is tile (ys[i], xs[j])'s [th * tw] weights, and
/// over all tiles the weights of each output pixel sum to 1.
std::vector<std::vector<std::vector<float>>> tile_blend_weights(int64_t H, int64_t W, int64_t th, int64_t tw,
                                                                 const std::vector<int64_t>& ys,
                                                                 const std::vector<int64_t>& xs, int64_t ramp);

/// The spatial tiles of an h x w latent for a pass whose output is `scale` times larger per side (a
/// decode: the VAE's spatial factor; an encode, which blends in latent space: 1). Tiles are `tile` latent
/// pixels square (clamped to the latent), consecutive ones sharing at least `overlap`; `tile` <= 0 or a
/// tile covering the whole latent makes one tile of everything (tiled() false, every weight 1). Each
/// tile's blend weights are at output scale, ramps of overlap x scale pixels, normalised to sum to 1 per
/// output pixel. A tiled grid with overlap outside [0, tile) throws Error(Evaluation) "<what>: overlap O
/// must be in [0, tile T)".
class TileGrid {
 public:
  TileGrid(int64_t h, int64_t w, int64_t tile, int64_t overlap, int64_t scale, const std::string& what);

  bool tiled() const { return tiled_; }
  size_t rows() const { return ys_.size(); }
  size_t cols() const { return xs_.size(); }
  size_t count() const { return ys_.size() * xs_.size(); }
  /// Latent start of tile row a / column b, and the latent tile size.
  int64_t y(size_t a) const { return ys_[a]; }
  int64_t x(size_t b) const { return xs_[b]; }
  int64_t tile_h() const { return th_; }
  int64_t tile_w() const { return tw_; }
  /// Output pixels per latent pixel, and the output tile size.
  int64_t scale() const { return scale_; }
  int64_t out_tile_h() const { return th_ * scale_; }
  int64_t out_tile_w() const { return tw_ * scale_; }
  /// Tile (a, b)'s [out_tile_h * out_tile_w] normalised weights.
  const std::vector<float>& weights(size_t a, size_t b) const { return weights_[a][b]; }
  /// acc [P, h·scale, w·scale] += weights(a, b) ⊙ tile, for tile (a, b)'s output [P, out_tile_h, out_tile_w]
  /// (P = tile.size() / (out_tile_h · out_tile_w) planes).
  void accumulate(float* acc, std::span<const float> tile, size_t a, size_t b) const;

 private:
  bool tiled_;
  int64_t h_, w_, th_, tw_, scale_;
  std::vector<int64_t> ys_, xs_;
  std::vector<std::vector<std::vector<float>>> weights_;
};

/// Frames [t0, t0 + n), rows [y0, y0 + h) and columns [x0, x0 + w) of a video [P, T, H, W] held on the host
/// (P = batch x channels planes), as a contiguous [P, n, h, w]: what a tiled encode uploads for one tile.
std::vector<float> video_window(std::span<const float> video, int64_t planes, int64_t T, int64_t H, int64_t W, int64_t t0,
                                int64_t n, int64_t y0, int64_t h, int64_t x0, int64_t w);

/// The largest tensor an automatically tiled VAE pass may make: one device buffer, and a working set of
/// `working_set_factor` tensors of that size (what the pass holds at once, measured per VAE) within half of
/// `budget_bytes`, so the weights and cached values keep the other half.
inline uint64_t auto_tile_tensor_limit(uint64_t max_buffer_bytes, uint64_t budget_bytes, uint64_t working_set_factor) {
  const uint64_t share = budget_bytes / (2 * working_set_factor);
  return max_buffer_bytes < share ? max_buffer_bytes : share;
}

/// The largest square tile side t <= max(h, w) whose `peak_bytes(min(t, h), min(t, w))` (the largest device
/// tensor a pass over such a tile makes) is at most `max_buffer_bytes`; 1 when none is. max(h, w) means the
/// whole h x w input fits.
int64_t largest_fitting_tile(int64_t h, int64_t w, uint64_t max_buffer_bytes,
                             const std::function<uint64_t(int64_t th, int64_t tw)>& peak_bytes);

}  // namespace lattice
