#pragma once
/// FLUX.1 transformer configuration (diffusers FluxTransformer2DModel), and its detection from checkpoint
/// tensor names and shapes in either layout: diffusers (`transformer_blocks.N.`, `single_transformer_blocks.N.`)
/// or BFL's originals (`double_blocks.N.`, `single_blocks.N.`).
///
/// What the weights cannot tell (the RoPE axis split) comes from a config.json beside them when present,
/// otherwise from FLUX.1's values (16, 56, 56) when the head dim is 128; other head dims need a config.

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "nodes/models/weights.h"

namespace lattice {

struct FluxConfig {
  int in_channels = 64;          ///< packed latent channels (16 latent channels x 2x2 patch)
  int out_channels = 64;
  int num_layers = 19;           ///< double-stream blocks
  int num_single_layers = 38;    ///< single-stream blocks
  int attention_head_dim = 128;
  int num_attention_heads = 24;
  int joint_attention_dim = 4096;   ///< T5 width
  int pooled_projection_dim = 768;  ///< CLIP pooled width
  bool guidance_embeds = true;      ///< FLUX.1-dev: yes; schnell: no
  std::array<int, 3> axes_dims_rope{16, 56, 56};
  float mlp_ratio = 4.0f;

  int inner_dim() const { return num_attention_heads * attention_head_dim; }
  int mlp_hidden() const { return static_cast<int>(static_cast<float>(inner_dim()) * mlp_ratio); }
  /// Parameter count implied by the config (for plans and memory budgets).
  uint64_t parameter_count() const;
  /// Parameters of one double-stream / single-stream block.
  uint64_t double_block_parameters() const;
  uint64_t single_block_parameters() const;
  /// FLOPs of one forward for the given image and text token counts (multiply-add = 2).
  double forward_flops(int64_t image_tokens, int64_t text_tokens) const;
  /// Throws Error(InvalidInput) describing the first inconsistency.
  void validate() const;
};

enum class FluxLayout { Diffusers, BFL };

/// From a diffusers config (FluxTransformer2DModel.config as JSON).
FluxConfig flux_config_from_json(const nlohmann::json& j);
/// Every tensor of a diffusers checkpoint of config `c`, name and shape (plans made before the weights are
/// downloaded count them as the run will upload them).
std::vector<std::pair<std::string, std::vector<int64_t>>> flux_checkpoint_shapes(const FluxConfig& c);

/// From the weights (names and shapes), using w.config() for what shapes cannot say.
/// Throws Error(InvalidInput) saying what is missing when the weights are not a FLUX transformer.
FluxConfig detect_flux_config(const WeightSource& w, FluxLayout* layout = nullptr);

}  // namespace lattice
