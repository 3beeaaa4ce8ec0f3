#pragma once
/// The causal 3-D video autoencoder of Wan 2.1: diffusers AutoencoderKLWan (v0.33.0), blocks named after its
/// checkpoint keys (encoder.*, decoder.*, quant_conv, post_quant_conv).
///
/// Shapes (4 levels, temperal_downsample [false, true, true], the only Wan 2.1 VAE):
///   decode: raw latent [B, z_dim, T, h, w] -> video [B, 3, 1 + 4(T - 1), 8h, 8w], clamped to [-1, 1];
///   encode: video [B, 3, 1 + 4k, H, W] (H, W multiples of 8) -> mean and logvar [B, z_dim, 1 + k, H/8, W/8].
/// Causality: every 3-D conv pads time on the left only, so a latent frame decodes from itself and the
/// frames before it. decode() runs the first latent frame alone (it becomes 1 video frame; each later one
/// becomes 4) and then `chunk` latent frames at a time, carrying each causal conv's last two input frames
/// (WanCausalState) from chunk to chunk; diffusers runs chunk = 1. Any chunk size gives the same video up to
/// float summation order. encode() runs frame 0 alone, then 4 frames at a time, as diffusers does.
///
/// Latent normalisation (where it lives): the model works on RAW latents. WanPipeline's sampler works on
/// normalised latents, (raw - latents_mean) / latents_std per channel, and de-normalises before decoding
/// (latents / (1 / std) + mean). normalize()/denormalize() do exactly that; the wan.vae_decode node takes the
/// sampler's normalised latent and calls denormalize() before decode(); wan.vae_encode returns normalize(mean).
///
/// Memory and submission: the passes submit and wait after every causal conv, attention and upsampler (the
/// command stream keeps each dispatch's buffers until its submission completes, so this bounds what one
/// chunk holds on the device to about one layer's tensors); decoded frames go to host memory chunk by chunk
/// (the clamp runs there).
/// decode_tiled() additionally cuts the latent into overlapping spatial tiles (see its comment).
///
/// Checkpoint layouts: the diffusers layout, and the original Wan-AI one (`Wan2.1_VAE.pth` converted to
/// safetensors: encoder.conv1, encoder.downsamples.N.residual.*, decoder.upsamples.N.*, head.*, conv1/conv2),
/// renamed to diffusers keys by convert_wan_vae_original().

#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/types/tensor.h"
#include "nodes/models/nn.h"
#include "nodes/models/vae/frame_sink.h"

namespace lattice {

struct WanVaeConfig {
  int base_dim = 96, z_dim = 16;
  std::vector<int> dim_mult{1, 2, 4, 4};
  int num_res_blocks = 2;
  std::vector<bool> temperal_downsample{false, true, true};  ///< diffusers' spelling; per encoder level but the last
  std::vector<float> latents_mean, latents_std;               ///< [z_dim] each; Wan 2.1's values by default

  WanVaeConfig();
  int levels() const { return static_cast<int>(dim_mult.size()); }
  int spatial_compression() const { return 1 << (levels() - 1); }
  int temporal_compression() const;
  /// Video frames decoded from `latent_frames` latent frames: 1 + temporal_compression() * (T - 1).
  int64_t decoded_frames(int64_t latent_frames) const { return 1 + temporal_compression() * (latent_frames - 1); }
  /// Throws Error(InvalidInput) naming the field for an inconsistent config.
  void validate() const;
  /// Bytes of the largest device tensor that decoding a `th` x `tw` latent tile makes, `chunk` latent
  /// frames per pass (the passes after the first, which are the larger): layer inputs and outputs, the
  /// conv's padded channels-last packing, the mid block's q/k/v and, for heads over 256 wide, its [L, L]
  /// scores. What must fit one device buffer.
  uint64_t decode_peak_tensor_bytes(int chunk, int64_t th, int64_t tw) const;
  /// The largest square tile side (latent pixels, at most max(h, w)) whose decode_peak_tensor_bytes for a
  /// `h` x `w` latent fits `max_buffer_bytes`; 1 when none does. max(h, w) means the whole latent fits.
  int64_t largest_decode_tile(uint64_t max_buffer_bytes, int chunk, int64_t h, int64_t w) const;
  /// As decode_peak_tensor_bytes, for encoding a tile of `th` x `tw` latent pixels (8th x 8tw video pixels),
  /// 4 frames per pass; and the largest encode tile for a `h` x `w` latent.
  uint64_t encode_peak_tensor_bytes(int64_t th, int64_t tw) const;
  int64_t largest_encode_tile(uint64_t max_buffer_bytes, int64_t h, int64_t w) const;
  /// A decode or encode pass holds about this many tensors of its largest one's size at once (layer inputs,
  /// norm temporaries, packings, outputs, causal caches: 5.7-8.7 measured on the reference VAE, see
  /// WanVae.WorkingSetStaysWithinItsFactor), so the automatic tiles keep peak * factor within half the
  /// device budget (auto_tile_tensor_limit in nodes/models/vae/tiling.h).
  static constexpr uint64_t kWorkingSetFactor = 10;
  /// Bytes of one tile's causal caches (f32) once `frames_seen` latent frames of a `th` x `tw` tile have
  /// been decoded (the first pass one frame): every causal conv's last min(2, frames) input frames at its
  /// level's size, and each temporal upsampler's time conv's (which skips the first pass).
  uint64_t decode_cache_bytes(int64_t frames_seen, int64_t th, int64_t tw) const;
  /// The most bytes one tile's caches hold between the passes of a `latent_frames` decode, `chunk` frames per
  /// pass after the first: their size before the last pass (0 for one frame: nothing waits).
  uint64_t decode_kept_cache_bytes(int64_t latent_frames, int chunk, int64_t th, int64_t tw) const;
};

/// How many of a tiled decode's `tiles` keep their causal caches on the device between passes (the others
/// wait on the host): as many as `room` bytes hold at `cache_bytes` each, and all when there is one tile.
/// decode_frames() gives `room` as the device budget less what is in use and kWorkingSetFactor x the tile's
/// decode_peak_tensor_bytes; the wan.vae_decode plan counts the kept bytes of every tile (what the run
/// holds when the budget has room for them).
size_t wan_resident_cache_tiles(size_t tiles, uint64_t cache_bytes, uint64_t room);

/// From a diffusers config.json (AutoencoderKLWan). attn_scales (the down/up levels, by spatial scale, that get
/// attention blocks besides the mid blocks') must be empty or absent, as in every Wan 2.1 VAE: WanVaeConfig
/// holds no attention outside the mid blocks, so other values are refused.
WanVaeConfig wan_vae_config_from_json(const nlohmann::json& j);
/// The config as a diffusers config.json's fields (wan_vae_config_from_json gives `c` back): how a plan passes a
/// loaded VAE's config downstream (wan.load_vae's plan meta "config"). attn_scales is left out: it would always
/// be [], diffusers' default.
nlohmann::json wan_vae_config_to_json(const WanVaeConfig& c);
/// True when the weights look like a Wan VAE in either layout.
bool is_wan_vae(const WeightSource& w);
/// Renames an original Wan-AI layout VAE in place to diffusers keys; does nothing to a diffusers one.
/// Throws Error(InvalidInput) naming a tensor it does not know.
void convert_wan_vae_original(WeightSource& w);
/// The config from the weights (diffusers keys; convert first); latents_mean/std from the folder's
/// config.json when present, else Wan 2.1's. Throws Error(InvalidInput) naming the file when the weights
/// are not an AutoencoderKLWan.
WanVaeConfig detect_wan_vae_config(const WeightSource& w);
/// Every checkpoint tensor of a config with its shape, in diffusers names (for tiny test checkpoints and
/// parameter counts).
std::vector<std::pair<std::string, std::vector<int64_t>>> wan_vae_tensor_shapes(const WanVaeConfig& c);

/// Single-head attention softmax(q·kᵀ·scale)·v for q, k, v [N, L, D] with any strides whose last is 1 (views
/// into a packed qkv) -> a new contiguous [N, L, D]. Heads up to 256 wide run the flash kernel; wider ones (the
/// real Wan 2.1 VAE's mid blocks have D = 384), or any with force_explicit, build each item's [L, L] scores
/// with matmuls and a softmax. Records only.
gpu::Tensor wan_single_head_attention(gpu::CommandStream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                                      float scale, bool force_explicit = false);

/// The causal conv caches of one decode or encode pass: the last (up to) two input frames of every causal
/// conv, in the order the convs run, and whether the first chunk has been seen (the temporal resamplers
/// treat it specially).
struct WanCausalState {
  std::vector<gpu::Tensor> slots;
  size_t next = 0;
  bool first_chunk = true;
};

class WanVae {
 public:
  WanVae(WanVaeConfig config, DeviceWeights& weights);
  const WanVaeConfig& config() const { return config_; }
  bool has_encoder() const { return has_encoder_; }
  bool has_decoder() const { return has_decoder_; }

  /// z: raw latent [B, z_dim, T, h, w] (device) -> video [B, 3, decoded_frames(T), h*f, w*f] f32 on the host,
  /// clamped to [-1, 1]. `chunk`: latent frames per pass after the first (1 = diffusers; more is faster and
  /// needs proportionally more memory). `progress(done, total)` is called after each chunk when set.
  HostTensor decode(gpu::CommandStream& s, const gpu::Tensor& z, int chunk = 1,
                    const std::function<void(int, int)>& progress = {}) const;
  /// Continues a decode: latent frames z [B, z_dim, t, h, w] that follow those already passed with `state`
  /// -> their video frames [B, 3, t', H, W] on the device, not clamped. The first call must pass one frame.
  /// Submits and waits layer by layer (see above); the last layer may be left recorded for the caller.
  gpu::Tensor decode_chunk(gpu::CommandStream& s, WanCausalState& state, const gpu::Tensor& z) const;
  /// decode() in overlapping spatial tiles of tile_latent x tile_latent latent pixels (overlap_latent shared
  /// with each neighbour), each decoded over all frames, blended linearly across the overlaps: peak device
  /// memory follows the tile. The mid-block attention sees only its tile and the convs see zeros at tile
  /// edges, so the result differs slightly from decode(); a tile covering the whole latent is decode().
  /// tile_latent <= 0 means no tiling; overlap_latent must be in [0, tile_latent).
  HostTensor decode_tiled(gpu::CommandStream& s, const gpu::Tensor& z, int64_t tile_latent, int64_t overlap_latent,
                          int chunk = 1, const std::function<void(int, int)>& progress = {}) const;
  /// decode_tiled() handing each chunk's frames to `sink` as soon as they are complete ([B, 3, n, H, W],
  /// clamped to [-1, 1]), so a caller can encode them while later chunks decode; the host then holds one
  /// chunk's frames. With tiles, every tile keeps its own causal caches and each chunk is decoded tile by
  /// tile, so the frames are decode_tiled()'s exactly. Tiles keep their caches on the device between passes
  /// while the budget has room for them (wan_resident_cache_tiles, the first tiles first); the others'
  /// caches wait on the host (byte for byte) while the other tiles decode, so under a tight budget the
  /// device holds one tile's caches, not the whole frame's. `progress` counts chunks.
  void decode_frames(gpu::CommandStream& s, const gpu::Tensor& z, int64_t tile_latent, int64_t overlap_latent, int chunk,
                     const DecodedFramesSink& sink, const std::function<void(int, int)>& progress = {}) const;
  /// x: [B, 3, 1 + 4k, H, W] in [-1, 1] (device) -> {mean, logvar} [B, z_dim, 1 + 4k / temporal_compression,
  /// H/f, W/f] (logvar clamped to [-30, 20] on the device), on the device. Submits and waits after each chunk and
  /// at the end.
  std::pair<gpu::Tensor, gpu::Tensor> encode(gpu::CommandStream& s, const gpu::Tensor& x) const;
  /// encode() of a video held on the host (`x`: the values of a [B, 3, 1 + 4k, H, W] `shape`, in [-1, 1]) in overlapping
  /// spatial tiles of tile_latent x tile_latent latent pixels (overlap_latent shared), each encoded over all
  /// frames with its own causal caches and blended linearly in latent space. Only one chunk of one tile is
  /// on the device at a time, so neither the video nor the full-size activations need to fit a buffer. A
  /// tile covering the latent (or tile_latent <= 0) is encode() exactly; smaller tiles see zeros at their
  /// edges and differ slightly. overlap_latent must be in [0, tile_latent).
  std::pair<gpu::Tensor, gpu::Tensor> encode_tiled(gpu::CommandStream& s, std::span<const float> x, const gpu::Shape& shape,
                                                   int64_t tile_latent, int64_t overlap_latent) const;

  /// Normalised (sampler) latent -> raw: z * latents_std + latents_mean per channel (computed as WanPipeline
  /// does, z / (1 / std) + mean). Records only.
  gpu::Tensor denormalize(gpu::CommandStream& s, const gpu::Tensor& z) const;
  /// Raw latent (e.g. the encoder's mean) -> normalised: (z - latents_mean) / latents_std (computed as
  /// WanImageToVideoPipeline does, (z - mean) * (1 / std)). Records only.
  gpu::Tensor normalize(gpu::CommandStream& s, const gpu::Tensor& z) const;

 private:
  struct Conv {
    gpu::Tensor w, b;
  };
  struct Resnet {  // WanResidualBlock
    gpu::Tensor norm1, norm2;
    Conv conv1, conv2, shortcut;
  };
  struct Attention {  // WanAttentionBlock
    gpu::Tensor norm;
    Conv to_qkv, proj;  // 1x1 conv weights as [out, in] matrices
  };
  enum class Resample { None, Up2d, Up3d, Down2d, Down3d };
  struct Resampler {  // WanResample
    Resample mode = Resample::None;
    Conv resample, time_conv;
  };
  struct Mid {
    Resnet res0, res1;
    Attention attn;
  };
  struct Level {
    std::vector<Resnet> resnets;
    Resampler resampler;
  };
  struct Coder {
    Conv conv_in, conv_out;
    Mid mid;
    std::vector<Level> levels;
    gpu::Tensor norm_out;
  };

  Coder load_coder(DeviceWeights& w, bool encoder) const;
  gpu::Tensor causal_conv(gpu::CommandStream& s, WanCausalState& st, const Conv& c, const gpu::Tensor& x) const;
  gpu::Tensor resnet(gpu::CommandStream& s, WanCausalState& st, const Resnet& r, const gpu::Tensor& x) const;
  gpu::Tensor attention(gpu::CommandStream& s, const Attention& a, const gpu::Tensor& x) const;
  gpu::Tensor mid(gpu::CommandStream& s, WanCausalState& st, const Mid& m, const gpu::Tensor& x) const;
  gpu::Tensor resample(gpu::CommandStream& s, WanCausalState& st, const Resampler& r, const gpu::Tensor& x) const;
  gpu::Tensor head(gpu::CommandStream& s, WanCausalState& st, const Coder& c, const gpu::Tensor& x) const;
  gpu::Tensor encode_chunk(gpu::CommandStream& s, WanCausalState& st, const gpu::Tensor& x) const;
  /// Throws Error(Evaluation) unless `x` is [B, 3, 1 + 4k, H, W] with H, W multiples of the compression.
  void check_encode_input(const gpu::Shape& x) const;

  WanVaeConfig config_;
  Coder encoder_, decoder_;
  Conv quant_conv_, post_quant_conv_;
  bool has_encoder_ = false, has_decoder_ = false;
};

}  // namespace lattice
