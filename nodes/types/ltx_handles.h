#pragma once
/// What flows on LTX-Video wires: the transformer, VAE and latent upsampler handles (ModelHandle, see model_handles.h), the
/// T5 text encoder with its tokenizer, and LTX conditioning (T5 states with their padding mask, which the
/// transformer's cross-attention needs). Not thread-safe: used from the evaluating thread.

#include <memory>

#include "nodes/models/ltx/transformer.h"
#include "nodes/models/ltx/upsampler.h"
#include "nodes/models/ltx/vae.h"
#include "nodes/types/model_handles.h"

namespace lattice {

using LtxTransformerHandle = ModelHandle<LtxTransformer, LtxTransformerConfig, PortType::DiT>;
using LtxVaeHandle = ModelHandle<LtxVae, LtxVaeConfig, PortType::VAE>;
using LtxUpsamplerHandle = ModelHandle<LtxLatentUpsampler, LtxUpsamplerConfig, PortType::Upsampler>;

/// LTX-Video's text encoder: T5-XXL v1.1 with its tokenizer.
class LtxTextEncoderData final : public Data {
 public:
  LtxTextEncoderData(std::shared_ptr<T5Handle> t5, T5Tokenizer tok) : t5(std::move(t5)), tokenizer(std::move(tok)) {}
  PortType type() const override { return PortType::TextEncoder; }
  size_t bytes() const override { return sizeof(*this) + t5->bytes(); }
  std::string describe() const override { return "LTX-Video text encoder (T5)"; }
  std::shared_ptr<T5Handle> t5;
  T5Tokenizer tokenizer;
};

/// LTX conditioning: prompt states [B, L, D] and their mask [B, L] (1 = token, 0 = padding).
class LtxConditioningData final : public Data {
 public:
  LtxConditioningData(HostTensor embeds, std::vector<float> mask) : prompt_embeds(std::move(embeds)), mask(std::move(mask)) {}
  PortType type() const override { return PortType::Conditioning; }
  size_t bytes() const override { return sizeof(*this) + prompt_embeds.data.size() + mask.size() * sizeof(float); }
  std::string describe() const override { return "LTX conditioning " + prompt_embeds.shape_string(); }
  const HostTensor prompt_embeds;
  const std::vector<float> mask;
};

}  // namespace lattice
