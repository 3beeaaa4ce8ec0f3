#pragma once
/// The transformer encoder that CLIP's text and vision towers share (transformers CLIPEncoder: a stack of
/// CLIPEncoderLayer), on the GPU, with members named after the checkpoint keys under
/// `<prefix>N.` (`layer_norm1`, `self_attn.{q,k,v,out}_proj`, `layer_norm2`, `mlp.fc1`, `mlp.fc2`).
///
/// Math per layer, x [B, L, C]: x += out_proj(attn(layer_norm1(x))); x += fc2(act(fc1(layer_norm2(x)))),
/// LayerNorm eps from the config, attention over all heads with scale 1/sqrt(head_dim), causal for the text
/// tower and full for the vision tower; act is quick_gelu (x·sigmoid(1.702x), OpenAI CLIP) or exact GELU
/// (OpenCLIP ViT-H, bigG).
///
/// Contract. The constructor uploads every layer's weights through the caller's DeviceWeights (which must
/// outlive the encoder). forward() records into the caller's CommandStream; nothing is submitted. Not
/// thread-safe; one encoder per thread.

#include <string>
#include <vector>

#include "nodes/models/nn.h"

namespace lattice {

enum class ClipActivation { QuickGelu, Gelu };

/// "quick_gelu" or "gelu" (transformers' hidden_act); throws Error(InvalidInput) naming `what` otherwise.
ClipActivation parse_clip_activation(const std::string& name, const std::string& what);

struct ClipEncoderShape {
  int layers = 0;
  int heads = 0;
  float layer_norm_eps = 1e-5f;
  ClipActivation activation = ClipActivation::QuickGelu;
};

class ClipEncoder {
 public:
  /// prefix: the layer list, e.g. "text_model.encoder.layers." or "vision_model.encoder.layers.".
  ClipEncoder(DeviceWeights& weights, const std::string& prefix, ClipEncoderShape shape);
  int layers() const { return static_cast<int>(layers_.size()); }

  /// Runs layers [0, count) on x [B, L, C] and returns the result. When `penultimate` is given it receives
  /// the input of the last layer run (transformers' hidden_states[-2] when count = layers()).
  gpu::Tensor forward(gpu::CommandStream& s, gpu::Tensor x, bool causal, int count, gpu::Tensor* penultimate = nullptr) const;

 private:
  struct Layer {
    gpu::Tensor layer_norm1_w, layer_norm1_b, layer_norm2_w, layer_norm2_b;
    Linear q_proj, k_proj, v_proj, out_proj;  // self_attn.*
    Linear fc1, fc2;                          // mlp.*
  };
  gpu::Tensor mlp_act(gpu::CommandStream& s, const gpu::Tensor& x) const;
  void layer(gpu::CommandStream& s, const Layer& l, gpu::Tensor& x, bool causal) const;

  ClipEncoderShape shape_;
  std::vector<Layer> layers_;
  gpu::Tensor quick_gelu_k_, quick_gelu_inv_k_;  // [1] scalars 1.702 and 1/1.702
};

}  // namespace lattice
