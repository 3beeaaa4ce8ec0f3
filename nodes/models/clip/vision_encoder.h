#pragma once
/// The CLIP vision encoder (transformers CLIPVisionModel / CLIPVisionModelWithProjection: Wan 2.1 I2V's
/// `image_encoder`, OpenCLIP ViT-H/14; OpenAI ViT-L/14), on the GPU, with blocks named after the
/// transformers checkpoint keys (`vision_model.embeddings.*`, `vision_model.pre_layrnorm.*` (sic),
/// `vision_model.encoder.layers.N.*`, `vision_model.post_layernorm.*`, `visual_projection.weight`).
/// Math: tests/golden/README.md, "CLIP vision encoder".
///
/// Contract. The constructor uploads every weight through the caller's DeviceWeights (which must outlive
/// the encoder). encode() records one forward into the caller's CommandStream and returns device tensors;
/// the caller submits. Not thread-safe (DeviceWeights caches); one encoder per thread.

#include <nlohmann/json.hpp>

#include "nodes/models/clip/encoder.h"
#include "nodes/models/nn.h"

namespace lattice {

struct ClipVisionConfig {
  int hidden_size = 1280;  ///< ViT-H/14 (Wan's image encoder); OpenAI ViT-L/14: 1024
  int intermediate_size = 5120;
  int num_hidden_layers = 32;
  int num_attention_heads = 16;
  int num_channels = 3;
  int image_size = 224;
  int patch_size = 14;
  int projection_dim = 0;  ///< visual_projection width (CLIPVisionModelWithProjection); 0 = none
  float layer_norm_eps = 1e-5f;
  ClipActivation hidden_act = ClipActivation::Gelu;  ///< gelu (OpenCLIP) or quick_gelu (OpenAI)

  int grid() const { return image_size / patch_size; }
  int tokens() const { return grid() * grid() + 1; }  ///< class token + patches (ViT-H/14 at 224: 257)
  int head_dim() const { return hidden_size / num_attention_heads; }
  /// Throws Error(InvalidInput) describing the first inconsistency.
  void validate() const;
};

/// From a transformers CLIPVisionConfig (config.json of an image_encoder folder); a full CLIPConfig with a
/// `vision_config` member is accepted too.
ClipVisionConfig clip_vision_config_from_json(const nlohmann::json& j);

/// From the weights: width from the class embedding, patch size and channels from the patch embedding,
/// image size from the position table (grid² + 1 rows), layers from `vision_model.encoder.layers.N.`, MLP
/// width from fc1, projection from `visual_projection.weight` when present. The head count, activation and
/// LayerNorm eps come from w.config() when present; otherwise the released models are assumed (1024, 1280,
/// 1408 and 1664 wide: 16 heads; 768: 12; OpenAI's 768/1024-wide towers use quick_gelu, the OpenCLIP ones
/// gelu). Throws Error(InvalidInput) when the weights are not a CLIP vision tower.
ClipVisionConfig detect_clip_vision_config(const WeightSource& w);

/// Opens an image encoder: a safetensors file, a component folder (`image_encoder/` of a diffusers
/// pipeline), or a pipeline folder holding `component`. PyTorch pickles (Wan-AI's
/// models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth) are refused with Error(InvalidInput) saying
/// that only safetensors are read.
WeightSource open_clip_vision_weights(const std::filesystem::path& path, const std::string& component = "image_encoder");

struct ClipVisionOutput {
  gpu::Tensor last_hidden;   ///< [B, tokens, C], output of the last layer (no post_layernorm, as transformers)
  gpu::Tensor penultimate;   ///< [B, tokens, C], hidden_states[-2]: input of the last layer (Wan I2V)
  gpu::Tensor pooled;        ///< [B, C], post_layernorm(last_hidden[:, 0])
  gpu::Tensor image_embeds;  ///< [B, projection_dim], visual_projection(pooled); undefined without projection
};

class ClipVisionEncoder {
 public:
  ClipVisionEncoder(ClipVisionConfig config, DeviceWeights& weights);
  const ClipVisionConfig& config() const { return config_; }

  /// pixels: f32 [B, num_channels, image_size, image_size], preprocessed (clip/image_preprocess.h).
  /// penultimate_only: run one layer less and fill only `penultimate` (all Wan needs).
  ClipVisionOutput encode(gpu::CommandStream& s, const gpu::Tensor& pixels, bool penultimate_only = false) const;

 private:
  ClipVisionConfig config_;
  ClipEncoder encoder_;        // vision_model.encoder.layers.*
  Linear patch_embedding_;     // Conv2d(patch, stride patch, no bias) as a linear over channel-major patches
  gpu::Tensor class_embedding_, position_embedding_;  // [1, 1, C], [tokens, C]
  gpu::Tensor pre_w_, pre_b_, post_w_, post_b_;
  Linear visual_projection_;   // no bias; weight undefined without projection
};

}  // namespace lattice
