#pragma once
/// The LTX-Video causal video VAE (diffusers AutoencoderKLLTXVideo), blocks named after the checkpoint keys
/// (encoder.*, decoder.*, latents_mean, latents_std), in the three released layouts:
///  - 0.9.0: LTXVideoDownBlock3D encoder (strided-conv downsamplers, a conv_out resnet where the width
///    changes), decoder without timestep conditioning (depth-to-space upsamplers, conv_in resnets);
///  - 0.9.1: the same encoder; a timestep-conditioned decoder with residual upsamplers and noise injection
///    (resnets with per_channel_scale1/2 add per-channel-scaled spatial noise after each conv);
///  - 0.9.5+: LTXVideo095DownBlock3D encoder (space-to-depth downsamplers), timestep-conditioned decoder with
///    residual upsamplers, no noise injection;
///  and encoders mixing the two down block types (see LtxVaeConfig::down_block_types).
///
/// decode(): a raw latent [B, latent_channels, T, h, w] and a decode timestep per video -> video
/// [B, out_channels, 1 + (T-1)·temporal, h·spatial, w·spatial] in about [-1, 1] (8x temporal, 32x spatial
/// for the released models). encode(): video [B, in_channels, 1 + 8k, H, W] (H, W multiples of the spatial
/// compression) -> {mean, logvar}, each [B, latent_channels, 1 + k, H/32, W/32] (logvar clamped to [-30, 20],
/// as DiagonalGaussianDistribution does). The pipeline's latent normalisation (latents_mean/latents_std,
/// scaling_factor) is applied by normalize()/denormalize(), not by encode/decode. Everything records into
/// the caller's stream; decode() and encode() submit after each resnet (SubmitPacer, bounding device
/// memory), and encode() waits at its end (its mean and clamped log-variance, split on the device by
/// split_moments in nodes/models/vae/latent_sample.h, can be read at once).

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/types/tensor.h"
#include "nodes/models/nn.h"
#include "nodes/models/vae/frame_sink.h"

namespace lattice {

struct LtxVaeConfig {
  int in_channels = 3, out_channels = 3, latent_channels = 128;
  int patch_size = 4, patch_size_t = 1;
  // Encoder, in diffusers order: conv_in's width, then each down block's output width.
  std::vector<int> block_out_channels{128, 256, 512, 1024, 2048};
  std::vector<int> layers_per_block{4, 6, 6, 2, 2};                // down blocks, then the mid block
  // Per down block, mixed as diffusers' LTXVideoEncoder3d allows: LTXVideoDownBlock3D (0.9.0/0.9.1: resnets, a
  // stride-2 conv keeping the width, a conv_out resnet where the width changes; downsample_type is ignored) or
  // LTXVideo095DownBlock3D (0.9.5+: resnets, then a space-to-depth downsampler, "spatial", "temporal" or
  // "spatiotemporal", that changes the width, or "conv", a stride-2 conv keeping it). The last block's type
  // decides how block_out_channels counts (legacy_encoder()): with LTXVideoDownBlock3D one entry per down
  // block, the last block keeping its width; with LTXVideo095DownBlock3D one more.
  std::vector<std::string> down_block_types = std::vector<std::string>(4, "LTXVideo095DownBlock3D");
  std::vector<std::string> downsample_type{"spatial", "temporal", "spatiotemporal", "spatiotemporal"};
  std::vector<bool> spatio_temporal_scaling{true, true, true, true};
  // Decoder, in diffusers order (the decoder runs them reversed).
  std::vector<int> decoder_block_out_channels{256, 512, 1024};
  std::vector<int> decoder_layers_per_block{5, 5, 5, 5};          // up blocks (reversed), then the mid block
  std::vector<bool> decoder_spatio_temporal_scaling{true, true, true};
  std::vector<bool> upsample_residual{true, true, true};
  std::vector<int> upsample_factor{2, 2, 2};
  std::vector<bool> decoder_inject_noise{false, false, false, false};  // up blocks (reversed), then the mid block
  bool timestep_conditioning = true;
  float resnet_norm_eps = 1e-6f;
  float scaling_factor = 1.0f;

  /// Diffusers' own defaults (what AutoencoderKLLTXVideo() builds: the 0.9.0 layout), the base that
  /// ltx_vae_config_from_json fills from a config.json, as from_config does.
  static LtxVaeConfig diffusers_defaults();
  /// True when the last down block is an LTXVideoDownBlock3D (the 0.9.0/0.9.1 encoder and mixes ending so):
  /// block_out_channels then has one entry per down block.
  bool legacy_encoder() const { return !down_block_types.empty() && down_block_types.back() == "LTXVideoDownBlock3D"; }
  /// Down block i's downsampler: "conv" (a stride-2 conv) for an LTXVideoDownBlock3D, else downsample_type[i];
  /// meaningful where spatio_temporal_scaling[i].
  const std::string& encoder_downsample(size_t i) const;
  /// Down block i's input and output widths, as LTXVideoEncoder3d assigns them from block_out_channels.
  std::pair<int, int> encoder_block_widths(size_t i) const;
  int spatial_compression() const;   ///< 32 for the released models
  int temporal_compression() const;  ///< 8
  /// Bytes of the largest tensor decode() makes, per latent pixel (h·w) of one video of `latent_frames`
  /// frames: the last up block's upsampler and resnets for the released models.
  uint64_t decode_bytes_per_latent_pixel(int64_t latent_frames) const;
  /// The largest square spatial tile (latent pixels, at least 1) whose decoder tensors fit one device buffer
  /// of `max_buffer_bytes` (10% margin), for a latent of `latent_frames` frames (or temporal tiles that long).
  int64_t largest_decode_tile(uint64_t max_buffer_bytes, int64_t latent_frames) const;
  /// A decode holds about this many tensors of its largest one's size at once (4.9-5.0 measured on the
  /// reference VAE, LtxVaeConfig.DecodeWorkingSetStaysWithinItsFactor); automatic tiles keep that working
  /// set within half the device budget (auto_tile_tensor_limit in nodes/models/vae/tiling.h).
  static constexpr uint64_t kWorkingSetFactor = 8;
  /// Bytes of the largest tensor encode() makes for a clip of `latent_frames` latent frames (1 + 8(latent_frames
  /// - 1) video frames) of th x tw latent pixels: for the released models the first down block's resnets'
  /// inputs as their convs pack them (channels-last, with the causal frames and a pixel of padding around).
  uint64_t encode_peak_tensor_bytes(int64_t latent_frames, int64_t th, int64_t tw) const;
  /// The largest square spatial tile (latent pixels, at most max(h, w); 1 when none fits) of an h x w latent
  /// whose encoder tensors fit one device buffer of `max_buffer_bytes`, for `latent_frames` encoded at once.
  int64_t largest_encode_tile(uint64_t max_buffer_bytes, int64_t latent_frames, int64_t h, int64_t w) const;
  /// An encode holds about this many tensors of its largest one's size at once (2.8-4.7 measured on the
  /// reference VAE, LtxVaeTiledEncode.EncodeWorkingSetStaysWithinItsFactor).
  static constexpr uint64_t kEncodeWorkingSetFactor = 6;
  /// Throws Error(InvalidInput) describing the first inconsistency or unsupported option.
  void validate() const;
};

/// From a diffusers config (AutoencoderKLLTXVideo.config as JSON); missing keys take diffusers' defaults.
LtxVaeConfig ltx_vae_config_from_json(const nlohmann::json& j);
/// The config under the keys ltx_vae_config_from_json reads (it gives `c` back): how ltx.load_vae's plan hands
/// the detected config to the plans downstream.
nlohmann::json ltx_vae_config_to_json(const LtxVaeConfig& c);
/// From the weights' names and shapes (config.json beside them, when present, wins for what shapes cannot
/// say: upsample_residual, and the type of a down block that neither widens nor has a space-to-depth
/// downsampler). Strips a single-file checkpoint's `vae.` prefix and renames Lightricks' original names
/// (vae_checkpoint.h) first. The layout (0.9.0, 0.9.1, 0.9.5+, mixed encoders) is read from the names, block by
/// block: a conv_out resnet means an LTXVideoDownBlock3D, a space-to-depth downsampler
/// (`downsamplers.0.conv.conv.weight`) an LTXVideo095DownBlock3D, and a block with neither (a stride-2 conv,
/// `downsamplers.0.conv.weight`, or no downsampler: the same computation in both types) takes config.json's
/// type, else LTXVideo095DownBlock3D when another block has a space-to-depth downsampler, else
/// LTXVideoDownBlock3D; `per_channel_scale1` means noise injection, `decoder.scale_shift_table` timestep
/// conditioning. Throws Error(InvalidInput) naming what is missing when
/// the weights are not an LTX-Video VAE.
LtxVaeConfig detect_ltx_vae_config(WeightSource& w);

/// Whether the weights (named as detect_ltx_vae_config leaves them) hold an encoder: what
/// LtxVae::has_encoder() will say, known without uploading anything.
bool ltx_vae_has_encoder(const WeightSource& w);

/// How LtxVae::decode_frames() cuts a decode. Spatial tiles of `tile` x `tile` latent pixels share `overlap`
/// with each neighbour; temporal tiles of `tile_frames` latent frames share `overlap_frames` (at least 1: a
/// tile's first latent frame decodes to a single video frame, the previous tile supplies the 7 before it).
/// 0 = whole.
struct LtxDecodeTiling {
  int64_t tile = 0, overlap = 0;
  int64_t tile_frames = 0, overlap_frames = 0;
};

/// Spatial tile side that automatic tiling aims for before it gives up frames: 16 latent pixels (512 video
/// pixels, the size diffusers' tiled LTX decode uses).
inline constexpr int64_t kLtxAutoTileTarget = 16;

/// `requested` with its automatic parts (tile 0, and tile_frames 0) made concrete for a latent of T frames of
/// h x w under `max_buffer_bytes`, so that the decoder's largest tensor fits one buffer: unchanged when the
/// whole decode fits. Otherwise, when tile_frames is 0 and the whole clip would force spatial tiles smaller
/// than min(h, w, kLtxAutoTileTarget), the most latent frames per temporal tile (at least 2, sharing
/// min(overlap_frames, frames - 1) >= 1) that allow that size; then, when tile is 0, the largest spatial tile
/// that fits those frames (sharing min(overlap, tile - 1)). A released VAE's 121-frame 704x480 clip needs
/// about 1.3 GB in one tensor whole: under lavapipe's 128 MiB buffers that would mean 5-pixel (160-pixel)
/// latent tiles, where 2-frame temporal tiles (9 video frames each, sharing one) allow 19-pixel ones.
LtxDecodeTiling ltx_auto_decode_tiling(const LtxVaeConfig& c, LtxDecodeTiling requested, uint64_t max_buffer_bytes, int64_t T,
                                       int64_t h, int64_t w);

/// How LtxVae::encode_tiled() cuts an encode: the same fields, in latent units; temporal tiles may share no
/// frame (overlap_frames in [0, tile_frames)).
using LtxEncodeTiling = LtxDecodeTiling;

/// ltx_auto_decode_tiling's rule for an encode of a clip of T latent frames (1 + 8(T - 1) video frames), h x w
/// latent pixels, under `max_buffer_bytes`, by the encoder's largest tensor (a temporal tile after the first
/// encodes one latent frame more: the context frame it drops).
LtxEncodeTiling ltx_auto_encode_tiling(const LtxVaeConfig& c, LtxEncodeTiling requested, uint64_t max_buffer_bytes, int64_t T,
                                       int64_t h, int64_t w);

/// The noise that a 0.9.1 decoder injects (resnets with per_channel_scale1/2; nothing else uses it). Injection
/// k, counted in decode order (two per noisy resnet: after conv1, after conv2), adds per_channel_scale[c] ·
/// n_k[y, x] to every frame and channel of a tensor of H x W pixels: one field per injection, shared by the
/// frames, channels and videos, as the reference draws it. n_k is the window of the decoded latent
/// ([y0, y0 + h) x [x0, x0 + w) of a full_h x full_w latent, scaled to that resolution) in a field drawn for
/// the whole latent, so spatial tiles of one decode see the same noise where they overlap and one tile
/// covering the latent sees decode()'s. The fields are Lattice's seeded counter-based noise
/// (gpu/ops/noise.h: seed, offset (k + 1)·2^40, disjoint from offset 0 that ltx.vae_decode blends into the
/// latent), identical on every device, unless `fields` gives them (f32 [full_h·s, full_w·s] each, for
/// checking against a reference's draws).
struct LtxDecodeNoise {
  uint64_t seed = 0;
  int64_t y0 = 0, x0 = 0, full_h = 0, full_w = 0;  // 0 = the decoded latent is the whole one
  std::vector<gpu::Tensor> fields;
};

class LtxVae {
 public:
  LtxVae(LtxVaeConfig config, DeviceWeights& weights);
  const LtxVaeConfig& config() const { return config_; }
  bool has_encoder() const { return has_encoder_; }

  /// z [B, C, T, h, w] raw latent; timestep: one per video (ignored unless timestep_conditioning); `noise`:
  /// what a noise-injecting (0.9.1) decoder adds (ignored by the others).
  gpu::Tensor decode(gpu::CommandStream& s, const gpu::Tensor& z, const std::vector<float>& timestep,
                     const LtxDecodeNoise& noise = {}) const;
  /// decode() in tiles, handing the frames ([B, out_channels, n, H, W], about [-1, 1], not clamped) to `sink` in order as each temporal tile completes (so a caller
  /// can encode them while later tiles decode; the host holds at most one temporal tile's frames). Each
  /// tile is decoded whole by decode(); tiles are blended linearly across their overlaps (tiling.h), in
  /// space over overlap·32 pixels and in time over overlap_frames·8 frames. The decoder is not causal and
  /// its convs pad tile edges (zeros in space, repeated frames in time), so a tiled video differs slightly
  /// from decode()'s; with one tile covering the latent it is decode()'s exactly. A temporal tile's video
  /// frame j is the video's frame 8·start + j (a tile decodes to 1 + 8(frames - 1) frames, as the video
  /// does). `progress(done, total)` counts decoded tiles. A noise-injecting decoder's tiles take their
  /// windows of the whole latent's noise fields (LtxDecodeNoise; `noise`'s window is ignored).
  void decode_frames(gpu::CommandStream& s, const gpu::Tensor& z, const std::vector<float>& timestep,
                     const LtxDecodeTiling& tiling, const DecodedFramesSink& sink,
                     const std::function<void(int, int)>& progress = {}, const LtxDecodeNoise& noise = {}) const;
  std::pair<gpu::Tensor, gpu::Tensor> encode(gpu::CommandStream& s, const gpu::Tensor& x) const;
  /// encode() of a clip held on the host (`x`: the values of a [B, in_channels, 1 + 8k, H, W] `shape`, in
  /// [-1, 1]) in tiles, so that neither the clip nor the full-size activations need to fit a device buffer:
  /// spatial tiles of tile x tile latent pixels sharing `overlap`, temporal tiles of tile_frames latent frames
  /// sharing overlap_frames, each run through encode()'s network and blended linearly in latent space (the
  /// raw moments, as diffusers' tiled_encode blends them). A temporal tile from latent frame a > 0 encodes
  /// video frames [8(a - 1), 8(a + L - 1)] and drops its first latent frame (the causal encoder encodes a
  /// clip's first frame alone), so each kept latent frame sees its own 8 frames and at least the one before
  /// them (exactly that one for a tile's first kept frame, 9 for the next).
  /// Only one tile's frames are on the device at a time. One tile covering the clip is encode() exactly;
  /// smaller tiles see zeros at their edges (space) or a shorter causal history (time) and differ slightly.
  /// `progress(done, total)` counts encoded tiles. Returns {mean, logvar} on the device, as encode().
  std::pair<gpu::Tensor, gpu::Tensor> encode_tiled(gpu::CommandStream& s, std::span<const float> x, const gpu::Shape& shape,
                                                   const LtxEncodeTiling& tiling,
                                                   const std::function<void(int, int)>& progress = {}) const;
  /// Raw latent -> what the transformer sees: (z - mean) · scaling_factor / std, per channel.
  gpu::Tensor normalize(gpu::CommandStream& s, const gpu::Tensor& z) const;
  /// The inverse: z · std / scaling_factor + mean.
  gpu::Tensor denormalize(gpu::CommandStream& s, const gpu::Tensor& z) const;

 private:
  struct Conv {
    gpu::Tensor w, b;
  };
  struct Resnet {
    Conv conv1, conv2, shortcut;             // shortcut only when the width changes
    gpu::Tensor norm3_w, norm3_b;            // LayerNorm before the shortcut
    gpu::Tensor scale_shift_table;           // [4, C] when timestep-conditioned
    gpu::Tensor noise1, noise2;              // per_channel_scale1/2 as [1, C, 1, 1, 1] when injecting noise
  };
  struct TimeEmbedder {
    Linear l1, l2;
  };
  struct Down {
    std::vector<Resnet> resnets;
    int st = 0, sh = 0, sw = 0;  // downsampler strides; 0 = none
    bool strided = false;        // 0.9.0/0.9.1: a stride-2 conv; else space-to-depth of a conv plus a residual
    Conv conv;
    std::optional<Resnet> conv_out;  // 0.9.0/0.9.1: widens after the downsampler
  };
  struct Up {
    std::optional<Resnet> conv_in;
    TimeEmbedder time;
    bool upsample = false, residual = false;
    int factor = 1;
    Conv conv;
    std::vector<Resnet> resnets;
  };
  Conv load_conv(DeviceWeights& w, const std::string& p) const;
  /// Injection sites in decode order, and where the decoded latent lies in the whole one.
  struct NoiseCursor {
    const LtxDecodeNoise* noise = nullptr;
    int64_t h = 0, w = 0;  // the decoded latent's size
    int site = 0;
  };
  Resnet load_resnet(DeviceWeights& w, const std::string& p, bool conditioned, bool noisy) const;
  gpu::Tensor conv(gpu::CommandStream& s, const Conv& c, const gpu::Tensor& x, bool causal) const;
  gpu::Tensor resnet(gpu::CommandStream& s, const Resnet& r, const gpu::Tensor& x, const gpu::Tensor& temb, bool causal,
                     NoiseCursor* noise = nullptr) const;
  gpu::Tensor inject(gpu::CommandStream& s, const gpu::Tensor& x, const gpu::Tensor& scale, NoiseCursor& n) const;
  gpu::Tensor embed(gpu::CommandStream& s, const TimeEmbedder& e, const std::vector<float>& t) const;
  gpu::Tensor downsample(gpu::CommandStream& s, const Down& d, const gpu::Tensor& x) const;
  gpu::Tensor upsample(gpu::CommandStream& s, const Up& u, const gpu::Tensor& x) const;
  /// The encoder's raw output [B, latent_channels + 1, T, h, w] (means, then one shared log-variance).
  gpu::Tensor encode_moments(gpu::CommandStream& s, const gpu::Tensor& video) const;

  LtxVaeConfig config_;
  gpu::Context& ctx_;
  bool has_encoder_ = false;
  // encoder
  Conv enc_conv_in_, enc_conv_out_;
  std::vector<Down> down_;
  std::vector<Resnet> enc_mid_;
  // decoder
  Conv dec_conv_in_, dec_conv_out_;
  TimeEmbedder mid_time_, out_time_;
  std::vector<Resnet> dec_mid_;
  std::vector<Up> up_;
  gpu::Tensor out_scale_shift_;  // [2, C]
  float timestep_scale_ = 1000.0f;
  gpu::Tensor latents_mean_, latents_std_;
};

}  // namespace lattice
