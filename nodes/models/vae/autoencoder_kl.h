#pragma once
/// The 2-D KL autoencoder of FLUX (and SD-family models): diffusers AutoencoderKL, blocks named after its
/// checkpoint keys (encoder.*, decoder.*). decode() maps a raw latent [B, latent_channels, h, w] to an image
/// [B, out_channels, 8h, 8w] (for 4 levels) in about [-1, 1]; encode() maps an image to the latent
/// distribution (mean, logvar clamped to [-30, 20]). The pipeline applies scaling_factor and shift_factor;
/// these functions do not. decode() records into the caller's stream; the caller submits. encode() records
/// the whole pass, the log-variance clamp included (nodes/models/vae/latent_sample.h), then submits and waits
/// once, so its results can be read at once.

#include <nlohmann/json.hpp>
#include <vector>

#include "nodes/models/nn.h"

namespace lattice {

struct AutoencoderKLConfig {
  int in_channels = 3, out_channels = 3;
  std::vector<int> block_out_channels{128, 256, 512, 512};
  int layers_per_block = 2;
  int latent_channels = 16;
  int norm_num_groups = 32;
  float scaling_factor = 0.3611f, shift_factor = 0.1159f;  ///< FLUX's values
  bool use_quant_conv = false, use_post_quant_conv = false;
  bool mid_block_add_attention = true;
  int downscale() const { return 1 << (static_cast<int>(block_out_channels.size()) - 1); }
  /// Bytes of the decoder's largest single activation per latent pixel (f32; the widest channel count at
  /// its resolution, including the upsampled inputs of each level's convolution). FLUX: 64 KiB.
  uint64_t decode_bytes_per_latent_pixel() const;
  /// The largest square latent tile whose decoder activations each fit `max_buffer_bytes` (with a 10%
  /// margin for the convolutions' padded copies); at least 1.
  int64_t largest_decode_tile(uint64_t max_buffer_bytes) const;
  /// Bytes of the largest device tensor encoding a th x tw latent tile (th·f x tw·f image pixels) makes:
  /// layer inputs and outputs and each conv's padded channels-last packing (FLUX: the first level's
  /// 128 channels at full resolution); and the largest square tile of an h x w latent whose figure fits
  /// `max_buffer_bytes` (max(h, w) when the whole image fits; 1 when nothing does).
  uint64_t encode_peak_tensor_bytes(int64_t th, int64_t tw) const;
  int64_t largest_encode_tile(uint64_t max_buffer_bytes, int64_t h, int64_t w) const;
  /// decode() and encode() record a whole pass (a tile) before it is submitted, so every layer's tensors are
  /// alive at once: about this many of the largest one's size (measured on the reference VAE: decode 24.6-25.3,
  /// encode 19.4-19.8, VaeTiledEncode.WorkingSetStaysWithinItsFactor). Automatic tiles keep that working set
  /// within half the device budget (auto_tile_tensor_limit); at 1024x1024 a whole decode would otherwise hold
  /// some 25 GB.
  static constexpr uint64_t kWorkingSetFactor = 32;
  /// The working set of decoding a th x tw latent tile as the automatic tiles bound it: kWorkingSetFactor
  /// times the largest tensor (decode_bytes_per_latent_pixel per latent pixel).
  uint64_t decode_working_set_bytes(int64_t th, int64_t tw) const {
    return kWorkingSetFactor * decode_bytes_per_latent_pixel() * static_cast<uint64_t>(th * tw);
  }
  void validate() const;
};

/// How vae.decode tiles an h x w latent (tile and overlap in latent pixels; tile 0 = whole). With `tile` > 0
/// the tiles asked for. With `tile` 0: whole when the decoder's largest tensor stays within
/// auto_tile_tensor_limit(max_buffer_bytes, budget_bytes, kWorkingSetFactor) (one buffer, and the working set
/// within half the budget), else the largest square tile that does (automatic), its overlap at most a
/// quarter of it. The run and the plan (at each budget) both decide with this.
struct KlDecodeTiling {
  int64_t tile = 0, overlap = 0;
  bool automatic = false;
};
KlDecodeTiling kl_decode_tiling(const AutoencoderKLConfig& c, int64_t h, int64_t w, int64_t tile, int64_t overlap,
                                uint64_t max_buffer_bytes, uint64_t budget_bytes);

AutoencoderKLConfig autoencoder_kl_config_from_json(const nlohmann::json& j);
/// From the weights; scaling and shift factors from config.json when present, else FLUX's.
AutoencoderKLConfig detect_autoencoder_kl_config(const WeightSource& w);

class AutoencoderKL {
 public:
  AutoencoderKL(AutoencoderKLConfig config, DeviceWeights& weights);
  const AutoencoderKLConfig& config() const { return config_; }
  /// z: [B, latent_channels, h, w] -> [B, out_channels, h*f, w*f]
  gpu::Tensor decode(gpu::CommandStream& s, const gpu::Tensor& z) const;
  /// decode() in overlapping latent tiles of tile_latent x tile_latent (overlap_latent shared with each
  /// neighbour), blended linearly across the overlaps, so peak memory follows the tile, not the image.
  /// Submits and waits after each tile (unlike decode()). The mid-block attention and GroupNorm statistics see
  /// only their tile, so the result differs slightly from decode(); a tile covering the whole latent returns
  /// decode() exactly, and the output is exactly each tile's decode where no other tile reaches, the TileGrid
  /// blend of the tiles decoded alone elsewhere. Not diffusers' tiled_decode (other tile layout and blend).
  /// tile_latent <= 0 means no tiling; overlap_latent must be in [0, tile_latent).
  gpu::Tensor decode_tiled(gpu::CommandStream& s, const gpu::Tensor& z, int64_t tile_latent = 64, int64_t overlap_latent = 8) const;
  /// Latents as the DiT sees them -> the decoder's input: z / scaling_factor + shift_factor.
  gpu::Tensor to_decoder_input(gpu::CommandStream& s, const gpu::Tensor& z) const;
  /// The encoder's mean -> latents as the DiT sees them: (mean - shift_factor) * scaling_factor.
  gpu::Tensor to_dit_latent(gpu::CommandStream& s, const gpu::Tensor& mean) const;
  /// x: [B, in_channels, H, W] (H, W multiples of the downscale) -> {mean, logvar}, each [B, latent, H/f, W/f]
  std::pair<gpu::Tensor, gpu::Tensor> encode(gpu::CommandStream& s, const gpu::Tensor& x) const;
  /// encode() in overlapping tiles of tile_latent x tile_latent latent pixels (tile_latent·f image pixels,
  /// overlap_latent shared), blended linearly in latent space; one tile is on the device at a time (submits
  /// and waits after each). A tile covering the latent (or tile_latent <= 0) is encode() exactly; smaller
  /// tiles see zeros at their edges and differ slightly. overlap_latent must be in [0, tile_latent).
  std::pair<gpu::Tensor, gpu::Tensor> encode_tiled(gpu::CommandStream& s, const gpu::Tensor& x, int64_t tile_latent,
                                                   int64_t overlap_latent) const;

 private:
  struct Resnet {
    gpu::Tensor norm1_w, norm1_b, norm2_w, norm2_b;
    gpu::Tensor conv1_w, conv1_b, conv2_w, conv2_b, shortcut_w, shortcut_b;
  };
  struct MidAttention {
    gpu::Tensor norm_w, norm_b;
    Linear q, k, v, out;
  };
  struct Conv {
    gpu::Tensor w, b;
  };
  struct Level {
    std::vector<Resnet> resnets;
    bool resample = false;  // downsampler (encoder) or upsampler (decoder) after the resnets
    Conv resample_conv;
  };
  struct Coder {
    Conv conv_in, conv_out;
    std::vector<Level> levels;
    Resnet mid1, mid2;
    MidAttention attn;
    gpu::Tensor norm_out_w, norm_out_b;
  };
  /// The encoder's moments [B, 2·latent_channels, H/f, W/f] (mean, then logvar unclamped); records only.
  gpu::Tensor encode_moments(gpu::CommandStream& s, const gpu::Tensor& x) const;
  Resnet load_resnet(DeviceWeights& w, const std::string& p) const;
  Coder load_coder(DeviceWeights& w, bool encoder) const;
  gpu::Tensor resnet(gpu::CommandStream& s, const Resnet& r, const gpu::Tensor& x) const;
  gpu::Tensor mid(gpu::CommandStream& s, const Coder& c, const gpu::Tensor& x) const;
  gpu::Tensor group_norm_silu(gpu::CommandStream& s, const gpu::Tensor& x, const gpu::Tensor& w, const gpu::Tensor& b) const;

  AutoencoderKLConfig config_;
  Coder encoder_, decoder_;
  bool has_encoder_ = false, has_decoder_ = false;
};

}  // namespace lattice
