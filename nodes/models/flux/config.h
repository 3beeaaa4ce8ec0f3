#pragma once
/// FLUX.1 transformer configuration (diffusers FluxTransformer2DModel), and its detection from checkpoint
/// tensor names and shapes in either layout: diffusers (`transformer_blocks.N.`, `single_transformer_blocks.N.`)
/// or BFL's originals (`double_blocks.N.`, `single_blocks.N.`).
///
/// Structural-control checkpoints (FLUX.1-Canny-dev, FLUX.1-Depth-dev) are FLUX.1 with x_embedder (BFL img_in)
/// taking 128 input channels (64 packed latent + 64 packed control latent) and out_channels 64: detected from
/// those shapes (FluxConfig::control_channels), in both layouts.
///
/// What the weights cannot tell (the RoPE axis split) comes from a config.json beside them when present,
/// otherwise from FLUX.1's values (16, 56, 56) when the head dim is 128; other head dims need a config.

#include <array>
#include <filesystem>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "nodes/models/flow_match.h"
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
  /// The scheduler of the diffusers pipeline folder the transformer was loaded from (its
  /// scheduler/scheduler_config.json: flux_pipeline_scheduler), when there is one; flux.sample's 'auto'
  /// schedule takes it before guessing from guidance_embeds.
  std::optional<FlowMatchConfig> scheduler;

  int inner_dim() const { return num_attention_heads * attention_head_dim; }
  /// Packed channels of the control latent that a structural-control model (FLUX.1-Canny-dev / -Depth-dev, or
  /// a base model with a control LoRA) takes beside the noisy latent, concatenated on channels before x_embedder
  /// (FluxControlPipeline): out_channels when in_channels is twice that, else 0 (no control input).
  int control_channels() const { return in_channels == 2 * out_channels ? out_channels : 0; }
  int mlp_hidden() const { return static_cast<int>(static_cast<float>(inner_dim()) * mlp_ratio); }
  /// Parameter count implied by the config (for plans and memory budgets): the elements of every tensor
  /// flux_checkpoint_shapes lists.
  uint64_t parameter_count() const;
  /// FLOPs of one forward for the given image and text token counts (multiply-add = 2).
  double forward_flops(int64_t image_tokens, int64_t text_tokens) const;
  /// Device-memory bytes one forward's matrix products and attention read and write in activations, f32, on
  /// the terms forward_flops counts: each product reads its input rows and writes its output rows, attention
  /// reads q, k, v and writes its output. A lower bound: the elementwise work between them (norms,
  /// modulation, RoPE, GELU, gates, residual adds), the weights, and re-reads of tiles are not counted.
  double forward_activation_traffic_bytes(int64_t image_tokens, int64_t text_tokens) const;
  /// Throws Error(InvalidInput) describing the first inconsistency.
  void validate() const;
};

enum class FluxLayout { Diffusers, BFL };

/// The scheduler/scheduler_config.json of the diffusers pipeline a transformer at `path` belongs to: `path`
/// itself the pipeline folder, or `path` the component folder (holding config.json) inside it. None when there is no such file (single files, bare component folders).
/// Throws Error(InvalidInput) naming the file when it is not JSON or asks for what the scheduler lacks.
std::optional<FlowMatchConfig> flux_pipeline_scheduler(const std::filesystem::path& path);
/// Where flux_pipeline_scheduler looks for `path` (whether or not the file is there); nullopt for a file path.
std::optional<std::filesystem::path> flux_pipeline_scheduler_file(const std::filesystem::path& path);

/// From a diffusers config (FluxTransformer2DModel.config as JSON).
FluxConfig flux_config_from_json(const nlohmann::json& j);
/// Every tensor of a diffusers checkpoint of config `c`, name and shape (plans made before the weights are
/// downloaded count them as the run will upload them).
std::vector<std::pair<std::string, std::vector<int64_t>>> flux_checkpoint_shapes(const FluxConfig& c);

/// From the weights (names and shapes), using w.config() for what shapes cannot say.
/// Throws Error(InvalidInput) saying what is missing when the weights are not a FLUX transformer.
FluxConfig detect_flux_config(const WeightSource& w, FluxLayout* layout = nullptr);

}  // namespace lattice
