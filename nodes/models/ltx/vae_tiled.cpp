// LtxVae's tiled decode (decode_frames) and the decoder's memory estimate used to pick a tile.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "gpu/ops/copy.h"
#include "nodes/models/ltx/vae.h"
#include "nodes/models/vae/tiling.h"

namespace lattice {

using gpu::Tensor;

uint64_t LtxVaeConfig::decode_bytes_per_latent_pixel(int64_t latent_frames) const {
  // Walk the decoder in execution order, tracking channels, frames and pixels per latent pixel.
  double t = static_cast<double>(std::max<int64_t>(latent_frames, 1)), area = 1;
  double c = decoder_block_out_channels.empty() ? latent_channels : decoder_block_out_channels.back();
  double widest = std::max<double>(latent_channels, c) * t;
  for (size_t i = decoder_block_out_channels.size(); i-- > 0;) {
    // Up block: a conv_in resnet where the width changes (0.9.0), an upsampler whose conv emits 8x its block's
    // output width before depth-to-space, then resnets at that width.
    const double out = static_cast<double>(decoder_block_out_channels[i]) / upsample_factor[i];
    widest = std::max(widest, std::max(c, out) * t * area);
    c = out;
    if (decoder_spatio_temporal_scaling[i]) {
      widest = std::max(widest, c * 8 * t * area);  // the upsampler's conv, before depth-to-space
      area *= 4;
      widest = std::max(widest, c * 2 * t * area);  // depth-to-space, before its first frame is dropped
      t = 2 * t - 1;
    }
    widest = std::max(widest, c * t * area);
  }
  widest = std::max(widest, static_cast<double>(out_channels) * patch_size * patch_size * t * area);
  return static_cast<uint64_t>(std::ceil(widest * sizeof(float)));
}

int64_t LtxVaeConfig::largest_decode_tile(uint64_t max_buffer_bytes, int64_t latent_frames) const {
  const double pixels = static_cast<double>(max_buffer_bytes) / (1.1 * static_cast<double>(decode_bytes_per_latent_pixel(latent_frames)));
  return std::max<int64_t>(1, static_cast<int64_t>(std::floor(std::sqrt(pixels))));
}

LtxDecodeTiling ltx_auto_decode_tiling(const LtxVaeConfig& c, LtxDecodeTiling t, uint64_t max_buffer_bytes, int64_t T,
                                       int64_t h, int64_t w) {
  if (t.tile > 0) return t;
  int64_t frames = t.tile_frames > 0 ? std::min(t.tile_frames, T) : T;
  int64_t fit = c.largest_decode_tile(max_buffer_bytes, frames);
  if (fit >= h && fit >= w) return t;
  const int64_t want = std::min({h, w, kLtxAutoTileTarget});
  if (t.tile_frames == 0 && T > 2 && fit < want) {
    while (frames > 2 && c.largest_decode_tile(max_buffer_bytes, frames) < want) --frames;
    if (frames < T) {
      t.tile_frames = frames;
      t.overlap_frames = std::clamp<int64_t>(t.overlap_frames, 1, frames - 1);
      fit = c.largest_decode_tile(max_buffer_bytes, frames);
    }
  }
  if (fit < h || fit < w) {
    t.tile = fit;
    t.overlap = std::min(t.overlap, fit - 1);
  }
  return t;
}

void LtxVae::decode_frames(gpu::CommandStream& s, const Tensor& z, const std::vector<float>& timestep, const LtxDecodeTiling& tiling,
                           const DecodedFramesSink& sink, const std::function<void(int, int)>& progress,
                           const LtxDecodeNoise& noise) const {
  if (z.rank() != 5) {
    decode(s, z, timestep, noise);  // reports the shape error
    return;
  }
  const int64_t B = z.dim(0), T = z.dim(2), h = z.dim(3), w = z.dim(4);
  const int64_t f = config_.spatial_compression(), tc = config_.temporal_compression(), C = config_.out_channels;
  const TileGrid grid(h, w, tiling.tile, tiling.overlap, f, "LTX-Video VAE tiled decode");
  const bool space = grid.tiled(), time = tiling.tile_frames > 0 && tiling.tile_frames < T;
  // A tile's first latent frame decodes to one video frame, the 7 before it come from the previous tile:
  // temporal tiles must share at least one latent frame.
  if (time && (tiling.overlap_frames < 1 || tiling.overlap_frames >= tiling.tile_frames))
    throw_eval("LTX-Video VAE tiled decode: overlap_frames " + std::to_string(tiling.overlap_frames) + " must be in [1, tile_frames " +
               std::to_string(tiling.tile_frames) + ")");
  const int64_t H = h * f, W = w * f, HW = H * W, F = 1 + tc * (T - 1);

  // Temporal tiles: latent starts, their first video frames, and normalised blend weights along time.
  const int64_t L = time ? tiling.tile_frames : T, n = 1 + tc * (L - 1);
  const std::vector<int64_t> starts = time ? tile_starts(T, L, tiling.overlap_frames) : std::vector<int64_t>{0};
  std::vector<int64_t> first;
  for (int64_t t : starts) first.push_back(t * tc);
  const auto time_weights = tile_blend_weights(1, F, 1, n, {0}, first, time ? tiling.overlap_frames * tc : 0)[0];
  const int total = static_cast<int>(starts.size() * grid.count());
  // Every tile draws its window of the whole latent's injected-noise fields (the same for every temporal tile:
  // the fields are spatial only).
  LtxDecodeNoise tile_noise = noise;
  tile_noise.full_h = h, tile_noise.full_w = w, tile_noise.y0 = tile_noise.x0 = 0;
  int done = 0;
  // Without temporal tiles the one tile is the video, handed over as decoded. With them, each tile's frames
  // are weighted once into the frames it completes (those before the next tile's first) or, where the next
  // tile overlaps, into `carry`: the weighted sums so far of the frames from the next tile's first on.
  std::vector<float> carry;  // [B, C, carried, H, W]
  int64_t carried = 0;
  for (size_t k = 0; k < starts.size(); ++k) {
    const Tensor zt = time ? gpu::narrow(z, 2, starts[k], L) : z;
    HostTensor tile;  // [B, C, n, H, W]
    tile.shape = {B, C, n, H, W};
    if (!space) {
      const Tensor x = decode(s, time ? gpu::contiguous(s, zt) : zt, timestep, tile_noise);
      s.finish();
      if (x.dtype() != gpu::DType::F32) throw_eval("LTX-Video VAE decode: expected f32 frames from the decoder");
      const std::vector<std::byte> bytes = x.to_bytes();  // f32, as decoded
      tile.data.resize(bytes.size());
      std::memcpy(tile.data.data(), bytes.data(), bytes.size());
      if (progress) progress(++done, total);
    } else {
      tile.data.assign(static_cast<size_t>(B * C * n * HW) * sizeof(float), 0);
      for (size_t a = 0; a < grid.rows(); ++a)
        for (size_t b = 0; b < grid.cols(); ++b) {
          tile_noise.y0 = static_cast<int64_t>(grid.y(a)), tile_noise.x0 = static_cast<int64_t>(grid.x(b));
          const Tensor part = decode(
              s, gpu::contiguous(s, gpu::narrow(gpu::narrow(zt, 3, grid.y(a), grid.tile_h()), 4, grid.x(b), grid.tile_w())), timestep,
              tile_noise);
          s.finish();
          grid.accumulate(reinterpret_cast<float*>(tile.data.data()), part.to_floats(), a, b);
          if (progress) progress(++done, total);
        }
    }
    if (!time) {
      sink(tile, 0);
      return;
    }
    // This tile's frames [first[k], first[k] + n): the first `carried` hold earlier tiles' sums; those
    // before the next tile's first are final.
    const int64_t ready = (k + 1 < starts.size() ? first[k + 1] : F) - first[k], kept = n - ready;
    HostTensor out;
    out.shape = {B, C, ready, H, W};
    out.data.resize(static_cast<size_t>(B * C * ready * HW) * sizeof(float));
    std::vector<float> next(static_cast<size_t>(B * C * kept * HW));
    const float* src = reinterpret_cast<const float*>(tile.data.data());
    float* o = reinterpret_cast<float*>(out.data.data());
    for (int64_t bc = 0; bc < B * C; ++bc)
      for (int64_t j = 0; j < n; ++j) {
        const float wt = time_weights[k][j];
        const float* from = src + (bc * n + j) * HW;
        const float* before = j < carried ? carry.data() + (bc * carried + j) * HW : nullptr;
        float* to = j < ready ? o + (bc * ready + j) * HW : next.data() + (bc * kept + j - ready) * HW;
        for (int64_t i = 0; i < HW; ++i) to[i] = (before ? before[i] : 0.0f) + wt * from[i];
      }
    carry = std::move(next);
    carried = kept;
    sink(out, first[k]);
  }
}

}  // namespace lattice
