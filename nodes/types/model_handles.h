#pragma once
/// Model handles: what flows on DiT, VAE and TextEncoder wires. A handle owns the memory-mapped checkpoint
/// and the detected config; the device copy of the weights is made on first use and can be released
/// (sequential offloading: the next use uploads again). Handles are not written to the disk cache (the
/// checkpoint file is its own persistence) and count their device bytes for the memory cache's budget
/// (a block-streaming DiT's slots included).
/// Not thread-safe: used from the evaluating thread.

#include <memory>
#include <optional>
#include <string>

#include "nodes/models/clip/text_encoder.h"
#include "nodes/models/clip/tokenizer.h"
#include "nodes/models/flux/transformer.h"
#include "nodes/models/latent_preview.h"
#include "nodes/models/t5/encoder.h"
#include "nodes/models/t5/tokenizer.h"
#include "nodes/models/vae/autoencoder_kl.h"

namespace lattice {

/// A model of type M built from a WeightSource and a config C, on the device on demand. Optional weight
/// patches (LoRA, nodes/models/lora.h) are merged into their matrices as these are uploaded; a patched
/// handle shares the checkpoint mapping of its base and holds only the low-rank factors on the host.
/// `matrix_dtype` (a loader's weight_dtype) is the device dtype of the model's matrices (DeviceWeights).
template <class M, class C, PortType P>
class ModelHandle final : public Data {
 public:
  ModelHandle(std::shared_ptr<WeightSource> weights, C config, std::string origin,
              std::shared_ptr<const WeightPatches> patches = {}, std::optional<gpu::DType> matrix_dtype = {})
      : weights_(std::move(weights)),
        config_(std::move(config)),
        origin_(std::move(origin)),
        patches_(std::move(patches)),
        matrix_dtype_(matrix_dtype) {}
  PortType type() const override { return P; }
  size_t bytes() const override {
    size_t host = 0;
    if (patches_)
      for (const auto& p : *patches_) host += p.up.data.size() + p.down.data.size() + p.up2.data.size() + p.down2.data.size();
    size_t device = device_ ? device_->uploaded_bytes() : 0;
    // A DiT that streams its blocks holds them in slots outside its DeviceWeights.
    if constexpr (requires(const M& m) { m.streaming_slot_bytes(); })
      if (model_) device += model_->streaming_slot_bytes();
    return sizeof(*this) + host + device;
  }
  std::string describe() const override { return std::string(port_type_name(P)) + " " + origin_; }

  const C& config() const { return config_; }
  const WeightSource& weights() const { return *weights_; }
  const std::shared_ptr<WeightSource>& weights_ptr() const { return weights_; }
  /// Patches merged on upload; null or empty for the checkpoint as stored.
  const std::shared_ptr<const WeightPatches>& patches() const { return patches_; }
  const std::string& origin() const { return origin_; }
  const std::optional<gpu::DType>& matrix_dtype() const { return matrix_dtype_; }
  /// The model with its weights on `ctx`, uploading them if needed.
  M& model(gpu::Context& ctx) const {
    if (!model_) {
      device_ = std::make_unique<DeviceWeights>(*weights_, ctx, patches_, matrix_dtype_);
      model_ = std::make_unique<M>(config_, *device_);
    }
    return *model_;
  }
  bool resident() const { return model_ != nullptr; }
  /// Drops the device copy of the weights.
  void release() const {
    model_.reset();
    device_.reset();
  }
  /// The step-preview projection of this model's latents (a VAE's; nodes/models/latent_preview.h), fitted by
  /// `fit` on first use and kept with the handle: a patched or different checkpoint is a different handle.
  template <class Fit>
  const LatentRgbProjection& preview_projection(Fit&& fit) const {
    if (!preview_) preview_ = fit();
    return *preview_;
  }

 private:
  std::shared_ptr<WeightSource> weights_;
  C config_;
  std::string origin_;
  std::shared_ptr<const WeightPatches> patches_;
  std::optional<gpu::DType> matrix_dtype_;
  mutable std::unique_ptr<DeviceWeights> device_;
  mutable std::unique_ptr<M> model_;
  mutable std::optional<LatentRgbProjection> preview_;
};

using FluxTransformerHandle = ModelHandle<FluxTransformer, FluxConfig, PortType::DiT>;
using VaeHandle = ModelHandle<AutoencoderKL, AutoencoderKLConfig, PortType::VAE>;

using ClipHandle = ModelHandle<ClipTextEncoder, ClipTextConfig, PortType::TextEncoder>;
using T5Handle = ModelHandle<T5Encoder, T5Config, PortType::TextEncoder>;

/// FLUX's text encoders: CLIP-L (pooled output) and T5-XXL (sequence output) with their tokenizers.
class FluxTextEncodersData final : public Data {
 public:
  FluxTextEncodersData(std::shared_ptr<ClipHandle> clip, ClipTokenizer clip_tok, std::shared_ptr<T5Handle> t5, T5Tokenizer t5_tok)
      : clip(std::move(clip)), clip_tokenizer(std::move(clip_tok)), t5(std::move(t5)), t5_tokenizer(std::move(t5_tok)) {}
  PortType type() const override { return PortType::TextEncoder; }
  size_t bytes() const override { return sizeof(*this) + clip->bytes() + t5->bytes(); }
  std::string describe() const override { return "FLUX text encoders (CLIP + T5)"; }
  std::shared_ptr<ClipHandle> clip;
  ClipTokenizer clip_tokenizer;
  std::shared_ptr<T5Handle> t5;
  T5Tokenizer t5_tokenizer;
};

/// FLUX conditioning: prompt embeddings [B, L, D] and the pooled embedding [B, P].
class ConditioningData final : public Data {
 public:
  ConditioningData(HostTensor prompt, HostTensor pooled) : prompt_embeds(std::move(prompt)), pooled(std::move(pooled)) {}
  PortType type() const override { return PortType::Conditioning; }
  size_t bytes() const override { return sizeof(*this) + prompt_embeds.data.size() + pooled.data.size(); }
  std::string describe() const override {
    return "conditioning " + prompt_embeds.shape_string() + " + pooled " + pooled.shape_string();
  }
  bool serialize(std::string& out) const override;
  const HostTensor prompt_embeds, pooled;
};

/// Registers the disk-cache decoder for Conditioning. Idempotent.
void register_conditioning_type();

}  // namespace lattice
