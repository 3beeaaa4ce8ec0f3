#pragma once
/// LTX-Video transformer configuration (diffusers LTXVideoTransformer3DModel), and its detection from
/// checkpoint tensor names and shapes. Two layouts are read: diffusers (`proj_in`, `time_embed`,
/// `transformer_blocks.N.attn1.norm_q`) and Lightricks' single-file originals (`patchify_proj`,
/// `adaln_single`, `q_norm`, often under `model.diffusion_model.`), which normalise_ltx_checkpoint()
/// renames to the diffusers keys in place.
///
/// What the weights cannot tell (the head split of the inner width) comes from a config.json beside them
/// when present, otherwise from the released models: 64-wide heads for the 2B width 2048, 128-wide heads
/// for the 13B width 4096; other widths need a config.

#include <nlohmann/json.hpp>

#include "nodes/models/weights.h"

namespace lattice {

struct LtxTransformerConfig {
  int in_channels = 128;  ///< latent channels x patch volume (LTX: 128 latent channels, patch 1)
  int out_channels = 128;
  int patch_size = 1;
  int patch_size_t = 1;
  int num_attention_heads = 32;
  int attention_head_dim = 64;
  int cross_attention_dim = 2048;
  int num_layers = 28;
  int caption_channels = 4096;  ///< T5-XXL width
  float norm_eps = 1e-6f;       ///< the blocks' RMSNorms (Q/K norms use 1e-5, the attention default)
  int ff_inner = 0;             ///< feed-forward hidden width; 0 = 4 x inner_dim

  int inner_dim() const { return num_attention_heads * attention_head_dim; }
  int ff_hidden() const { return ff_inner > 0 ? ff_inner : 4 * inner_dim(); }
  /// Parameter count implied by the config (for plans and memory budgets).
  uint64_t parameter_count() const;
  /// Throws Error(InvalidInput) describing the first inconsistency.
  void validate() const;
};

/// Every tensor a diffusers-layout checkpoint of `c` holds, with its shape, in model order (for plans of a
/// checkpoint known by its config alone, and for writing test checkpoints).
std::vector<std::pair<std::string, std::vector<int64_t>>> ltx_checkpoint_shapes(const LtxTransformerConfig& c);

/// Extent `axis` of checkpoint tensor `name` (throws Error(InvalidInput) naming the tensor when it is absent
/// or has too few dimensions). Shared by the LTX-Video detectors.
int ltx_weight_dim(const WeightSource& w, const std::string& name, size_t axis);

/// From a diffusers config (LTXVideoTransformer3DModel.config as JSON).
LtxTransformerConfig ltx_transformer_config_from_json(const nlohmann::json& j);

/// Renames a Lightricks single-file LTX-Video transformer (keys `patchify_proj`, `adaln_single`, `q_norm`,
/// optionally under `model.diffusion_model.`) to diffusers names in place; diffusers weights are left
/// alone. Returns true when anything was renamed.
bool normalise_ltx_checkpoint(WeightSource& w);

/// Lightricks' name of a diffusers-named top-level tensor (`proj_in.weight` -> `patchify_proj.weight`,
/// `time_embed.` -> `adaln_single.`; in blocks `norm_q` -> `q_norm`, `norm_k` -> `k_norm`), or "" where both layouts
/// agree. For LoRA keys.
std::string ltx_original_name(const std::string& diffusers_name);

/// From the weights (names and shapes) in diffusers names, using w.config() for the head split.
/// Throws Error(InvalidInput) saying what is missing when the weights are not an LTX-Video transformer.
LtxTransformerConfig detect_ltx_transformer_config(const WeightSource& w);

}  // namespace lattice
