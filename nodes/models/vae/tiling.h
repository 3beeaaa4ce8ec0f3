#pragma once
/// Spatial tiling for VAE decoders (AutoencoderKL::decode_tiled, WanVae::decode_tiled): where the
/// overlapping tiles start along an axis, and the linear blend weights across their overlaps.

#include <cstdint>
#include <functional>
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

/// acc [P, h, w] += weights ⊙ tile, for a tile [P, th, tw] (P = tile.size() / (th·tw) planes) placed at
/// (y, x) and its [th * tw] blend weights (tile_blend_weights' entry for it).
void accumulate_tile(std::vector<float>& acc, int64_t h, int64_t w, const std::vector<float>& tile, int64_t th, int64_t tw,
                     int64_t y, int64_t x, const std::vector<float>& weights);

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
