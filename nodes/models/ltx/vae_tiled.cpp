// LtxVae's tiled decode (decode_frames) and encode (encode_tiled), and the memory estimates that pick their tiles.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>

#include "core/error.h"
#include "gpu/ops/copy.h"
#include "nodes/models/ltx/vae.h"
#include "nodes/models/vae/latent_sample.h"
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

uint64_t LtxVaeConfig::encode_peak_tensor_bytes(int64_t latent_frames, int64_t th, int64_t tw) const {
  // Walk the encoder in execution order with the sizes it makes. Every conv (3x3x3, causal) first packs its
  // input channels-last, channels rounded up to 4, with 2 frames in front and a pixel around (gpu/ops/conv3d).
  double t = static_cast<double>(1 + temporal_compression() * (std::max<int64_t>(latent_frames, 1) - 1));
  double h = static_cast<double>(th * spatial_compression()), w = static_cast<double>(tw * spatial_compression());
  double widest = in_channels * t * h * w;  // the clip, and its patchified copy
  const auto conv = [&](double cin, double frames, double cout) {
    widest = std::max(widest, std::ceil(cin / 4) * 4 * (frames + 2) * (h + 2) * (w + 2));
    widest = std::max(widest, cout * frames * h * w);
  };
  h /= patch_size, w /= patch_size;
  conv(static_cast<double>(in_channels) * patch_size * patch_size, t, block_out_channels.front());
  for (size_t i = 0; i < down_block_types.size(); ++i) {
    const auto [in, out] = encoder_block_widths(i);
    if (layers_per_block[i] > 0) conv(in, t, in);  // resnets
    if (spatio_temporal_scaling[i]) {
      const std::string& type = encoder_downsample(i);
      const double st = type == "spatial" ? 1 : 2, ss = type == "temporal" ? 1 : 2;
      if (type == "conv") {
        conv(in, t, 0);
        t = std::floor((t - 1) / st) + 1;
        h = std::ceil(h / ss), w = std::ceil(w / ss);
        widest = std::max(widest, in * t * h * w);
      } else {
        // The first st - 1 frames prepended; the conv's output and the input, each packed space-to-depth.
        widest = std::max(widest, in * (t + st - 1) * h * w);
        conv(in, t + st - 1, out / (st * ss * ss));
        t = (t + st - 1) / st;
        h /= ss, w /= ss;
      }
    }
    if (in != out && down_block_types[i] == "LTXVideoDownBlock3D") conv(std::max(in, out), t, out);  // conv_out resnet
  }
  conv(block_out_channels.back(), t, block_out_channels.back());            // mid block
  conv(block_out_channels.back(), t, latent_channels + 1.0);                // conv_out
  return static_cast<uint64_t>(std::ceil(widest * sizeof(float)));
}

int64_t LtxVaeConfig::largest_encode_tile(uint64_t max_buffer_bytes, int64_t latent_frames, int64_t h, int64_t w) const {
  return largest_fitting_tile(h, w, max_buffer_bytes,
                              [&](int64_t th, int64_t tw) { return encode_peak_tensor_bytes(latent_frames, th, tw); });
}

namespace {

// ltx_auto_decode_tiling's rule, with `largest(frames)` the largest spatial tile a temporal tile of that many
// latent frames allows.
LtxDecodeTiling auto_tiling(LtxDecodeTiling t, int64_t T, int64_t h, int64_t w, const std::function<int64_t(int64_t)>& largest) {
  if (t.tile > 0) return t;
  int64_t frames = t.tile_frames > 0 ? std::min(t.tile_frames, T) : T;
  int64_t fit = largest(frames);
  if (fit >= h && fit >= w) return t;
  const int64_t want = std::min({h, w, kLtxAutoTileTarget});
  if (t.tile_frames == 0 && T > 2 && fit < want) {
    while (frames > 2 && largest(frames) < want) --frames;
    if (frames < T) {
      t.tile_frames = frames;
      t.overlap_frames = std::clamp<int64_t>(t.overlap_frames, 1, frames - 1);
      fit = largest(frames);
    }
  }
  if (fit < h || fit < w) {
    t.tile = fit;
    t.overlap = std::min(t.overlap, fit - 1);
  }
  return t;
}

}  // namespace

LtxDecodeTiling ltx_auto_decode_tiling(const LtxVaeConfig& c, LtxDecodeTiling t, uint64_t max_buffer_bytes, int64_t T,
                                       int64_t h, int64_t w) {
  return auto_tiling(t, T, h, w, [&](int64_t frames) { return c.largest_decode_tile(max_buffer_bytes, frames); });
}

LtxEncodeTiling ltx_auto_encode_tiling(const LtxVaeConfig& c, LtxEncodeTiling t, uint64_t max_buffer_bytes, int64_t T,
                                       int64_t h, int64_t w) {
  return auto_tiling(t, T, h, w, [&](int64_t frames) {
    return c.largest_encode_tile(max_buffer_bytes, frames < T ? frames + 1 : frames, h, w);
  });
}

std::pair<Tensor, Tensor> LtxVae::encode_tiled(gpu::CommandStream& s, std::span<const float> v, const gpu::Shape& shape,
                                               const LtxEncodeTiling& tiling, const std::function<void(int, int)>& progress) const {
  if (!has_encoder_) throw_eval("LTX-Video VAE: these weights have no encoder");
  const int64_t sc = config_.spatial_compression(), tc = config_.temporal_compression(), Cin = config_.in_channels;
  if (shape.size() != 5 || shape[1] != Cin || shape[2] < 1 || (shape[2] - 1) % tc || shape[3] % sc || shape[4] % sc) {
    std::string dims;
    for (int64_t d : shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
    throw_eval("LTX-Video VAE encoder: video [" + dims + "] should be [B, " + std::to_string(Cin) + ", 1 + " + std::to_string(tc) +
               "k, H, W] with H and W multiples of " + std::to_string(sc));
  }
  const int64_t B = shape[0], F = shape[2], H = shape[3], W = shape[4];
  if (static_cast<int64_t>(v.size()) != B * Cin * F * H * W)
    throw_eval("LTX-Video VAE tiled encode: " + std::to_string(v.size()) + " values do not fill the video's shape");
  const int64_t T = 1 + (F - 1) / tc, h = H / sc, w = W / sc;
  const TileGrid grid(h, w, tiling.tile, tiling.overlap, 1, "LTX-Video VAE tiled encode");
  const bool time = tiling.tile_frames > 0 && tiling.tile_frames < T;
  if (time && (tiling.overlap_frames < 0 || tiling.overlap_frames >= tiling.tile_frames))
    throw_eval("LTX-Video VAE tiled encode: overlap_frames " + std::to_string(tiling.overlap_frames) + " must be in [0, tile_frames " +
               std::to_string(tiling.tile_frames) + ")");
  const int64_t L = time ? tiling.tile_frames : T, TH = grid.tile_h() * sc, TW = grid.tile_w() * sc;
  const std::vector<int64_t> starts = time ? tile_starts(T, L, tiling.overlap_frames) : std::vector<int64_t>{0};
  const auto time_weights = tile_blend_weights(1, T, 1, L, {0}, starts, time ? tiling.overlap_frames : 0)[0];
  const int total = static_cast<int>(starts.size() * grid.count());
  int done = 0;
  int64_t C2 = 0;
  std::vector<float> acc;  // [B, C2, T, h, w]: the blended moments
  for (size_t k = 0; k < starts.size(); ++k) {
    // Video frames [f0, f0 + n): a later tile starts 8 frames before its first latent frame's own, and drops
    // the latent frame that those make alone.
    const int64_t a = starts[k], drop = a > 0 ? 1 : 0, f0 = a > 0 ? tc * (a - 1) : 0, n = 1 + tc * (L - 1 + drop);
    std::vector<float> part;  // [B, C2, L, h, w]: this temporal tile's spatially blended moments
    for (size_t r = 0; r < grid.rows(); ++r)
      for (size_t c = 0; c < grid.cols(); ++c) {
        const std::vector<float> chunk = video_window(v, B * Cin, F, H, W, f0, n, grid.y(r) * sc, TH, grid.x(c) * sc, TW);
        Tensor m = encode_moments(s, Tensor::from_floats(s.context(), chunk, {B, Cin, n, TH, TW}));
        if (drop) m = gpu::contiguous(s, gpu::narrow(m, 2, drop, L));
        s.finish();
        if (part.empty()) {
          C2 = m.dim(1);
          part.assign(static_cast<size_t>(B * C2 * L * h * w), 0.0f);
        }
        grid.accumulate(part.data(), m.to_floats(), r, c);
        if (progress) progress(++done, total);
      }
    if (acc.empty()) acc.assign(static_cast<size_t>(B * C2 * T * h * w), 0.0f);
    const int64_t hw = h * w;
    for (int64_t bc = 0; bc < B * C2; ++bc)
      for (int64_t j = 0; j < L; ++j) {
        const float wt = time_weights[k][static_cast<size_t>(j)];
        const float* from = part.data() + (bc * L + j) * hw;
        float* to = acc.data() + (bc * T + a + j) * hw;
        for (int64_t i = 0; i < hw; ++i) to[i] += wt * from[i];
      }
  }
  auto moments = split_moments(s, Tensor::from_floats(s.context(), acc, {B, C2, T, h, w}), config_.latent_channels);
  s.finish();
  return moments;
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
