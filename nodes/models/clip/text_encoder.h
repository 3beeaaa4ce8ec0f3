#pragma once
/// The CLIP text encoder (transformers CLIPTextModel: FLUX `text_encoder`, SD 1.x/2.x, SDXL's two), on the
/// GPU, with blocks named after the transformers checkpoint keys (`text_model.embeddings.*`,
/// `text_model.encoder.layers.N.*`, `text_model.final_layer_norm.*`). Math: tests/golden/README.md,
/// "CLIP text encoder".
///
/// Contract. The constructor uploads every layer's weights through the caller's DeviceWeights (which must
/// outlive the encoder); the token and position tables stay in the WeightSource and only the rows a call
/// needs are read, on the host. encode() records one forward into the caller's CommandStream and returns
/// device tensors; the caller submits. Not thread-safe (DeviceWeights caches); one encoder per thread.

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "nodes/models/clip/encoder.h"
#include "nodes/models/nn.h"
#include "nodes/models/token_batch.h"

namespace lattice {

struct ClipTextConfig {
  using Activation = ClipActivation;

  int vocab_size = 49408;
  int hidden_size = 768;             ///< CLIP-L; OpenCLIP ViT-bigG (SDXL text_encoder_2): 1280
  int intermediate_size = 3072;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int max_position_embeddings = 77;
  float layer_norm_eps = 1e-5f;
  Activation hidden_act = Activation::QuickGelu;  ///< "quick_gelu" (OpenAI CLIP) or "gelu" (OpenCLIP bigG)
  /// transformers' pooling rule: 2 (the CLIP-L/FLUX configs) pools at the first maximal id (the first EOS,
  /// the largest id); any other value pools at the first position equal to it.
  int eos_token_id = 2;

  int head_dim() const { return hidden_size / num_attention_heads; }
  /// Throws Error(InvalidInput) describing the first inconsistency.
  void validate() const;
};

/// From a transformers CLIPTextConfig (config.json of a text_encoder folder). A full CLIPConfig with a
/// `text_config` member is accepted too.
ClipTextConfig clip_text_config_from_json(const nlohmann::json& j);

/// From the weights: layers from `text_model.encoder.layers.N.`, width and vocabulary from the token
/// embedding, positions from the position embedding, MLP width from fc1. The head count and activation
/// are not in the weights: they come from w.config() when present, otherwise every released CLIP's head
/// dim of 64 is assumed (CLIP-L: 12 heads) and the activation is quick_gelu, except gelu for the 1280-wide
/// OpenCLIP bigG. Throws Error(InvalidInput) when the weights are not a CLIP text encoder.
ClipTextConfig detect_clip_text_config(const WeightSource& w);

struct ClipTextOutput {
  gpu::Tensor last_hidden;  ///< [B, L, C], after final_layer_norm
  gpu::Tensor penultimate;  ///< [B, L, C], output of layer N-1 without final_layer_norm ("clip skip")
  gpu::Tensor pooled;       ///< [B, C], last_hidden at the pooling position (see eos_token_id)
};

class ClipTextEncoder {
 public:
  ClipTextEncoder(ClipTextConfig config, DeviceWeights& weights);
  const ClipTextConfig& config() const { return config_; }

  /// ids: [batch, L] row-major, L <= max_position_embeddings (77 for every released CLIP); no padding mask
  /// (FLUX and SD call the encoder without one: causal attention keeps padding out of the real tokens).
  ClipTextOutput encode(gpu::CommandStream& s, std::span<const int32_t> ids, int64_t batch);
  /// The same for tokenizer output (ClipTokenizer::encode_padded), one prompt per batch entry; the masks are
  /// not used.
  ClipTextOutput encode(gpu::CommandStream& s, std::span<const TokenBatch> prompts);

  /// Position of the pooled token in one row of ids.
  int64_t pool_position(std::span<const int32_t> row) const;

 private:
  ClipTextConfig config_;
  DeviceWeights& weights_;
  ClipEncoder encoder_;  // text_model.encoder.layers.*
  gpu::Tensor final_layer_norm_w_, final_layer_norm_b_;
};

}  // namespace lattice
