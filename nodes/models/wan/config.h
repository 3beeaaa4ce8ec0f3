#pragma once
/// Wan 2.1 transformer configuration (diffusers WanTransformer3DModel), and its detection from checkpoint
/// tensor names and shapes, in the diffusers layout (`blocks.N.attn1.to_q`, `condition_embedder.*`) or the
/// original Wan-AI layout (`blocks.N.self_attn.q`, `time_embedding.*`, `head.head`; wan/checkpoint.h
/// renames it). Text-to-video versus image-to-video is told by the image embedder's presence.
///
/// What the weights cannot tell (the head count: Q/K norms span all heads) comes from a config.json beside
/// them when present, otherwise from Wan 2.1's head dim 128 (1.3B: 12 heads, 14B: 40 heads).

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "nodes/models/weights.h"

namespace lattice {

struct WanConfig {
  std::array<int, 3> patch_size{1, 2, 2};  ///< (t, h, w)
  int num_attention_heads = 40;
  int attention_head_dim = 128;
  int in_channels = 16;   ///< T2V 16; I2V 36 (16 noise + 4 mask + 16 image latent)
  int out_channels = 16;
  int text_dim = 4096;    ///< UMT5-XXL width
  int freq_dim = 256;     ///< sinusoidal timestep channels
  int ffn_dim = 13824;
  int num_layers = 40;
  bool cross_attn_norm = true;  ///< affine LayerNorm before the cross-attention
  float eps = 1e-6f;
  int image_dim = 0;            ///< CLIP image-feature width for I2V (1280); 0 = text-to-video
  int added_kv_proj_dim = 0;    ///< input width of add_k_proj/add_v_proj (I2V); 0 = none
  int rope_max_seq_len = 1024;  ///< largest patch-grid extent along any axis

  int inner_dim() const { return num_attention_heads * attention_head_dim; }
  int patch_volume() const { return patch_size[0] * patch_size[1] * patch_size[2]; }
  bool image_to_video() const { return image_dim > 0; }
  /// RoPE head-dim split (t, h, w) = (d - 4(d/6), 2(d/6), 2(d/6)).
  std::array<int64_t, 3> rope_axes() const;
  /// "Wan 2.1 T2V 1.3B"-style name (for plans and messages): the released sizes by their names, others by their
  /// parameter count.
  std::string describe() const;
  /// Parameter count implied by the config (for plans and memory budgets).
  uint64_t parameter_count() const;
  /// FLOPs of one forward for `tokens` video tokens, `text` text tokens and `image` image tokens
  /// (multiply-add = 2), per batch entry.
  double forward_flops(int64_t tokens, int64_t text, int64_t image) const;
  /// Throws Error(InvalidInput) describing the first inconsistency.
  void validate() const;
};

/// Image tokens WanTransformer3DModel expects in front of the text (CLIP ViT-H/14: 256 patches + class token).
inline constexpr int64_t kWanImageTokens = 257;

/// Every tensor a diffusers-layout checkpoint of `c` holds, with its shape, in model order (for writing
/// test and benchmark checkpoints, and for checking one).
std::vector<std::pair<std::string, std::vector<int64_t>>> wan_checkpoint_shapes(const WanConfig& c);

/// From a diffusers config (WanTransformer3DModel.config as JSON), or an original Wan-AI config.json
/// (WanModel: dim, num_heads, in_dim, out_dim, model_type "t2v"/"i2v").
WanConfig wan_config_from_json(const nlohmann::json& j);

/// From the weights (names and shapes) in the diffusers layout, using w.config() for the head count when
/// present. Throws Error(InvalidInput) saying what is missing when the weights are not a Wan transformer.
WanConfig detect_wan_config(const WeightSource& w);

}  // namespace lattice
