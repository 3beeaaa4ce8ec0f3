#pragma once
/// Wan 2.1 model handles: the transformer on DiT wires (ModelHandle, see model_handles.h for ownership and
/// offloading), and the UMT5 text encoder with its tokenizer on TextEncoder wires. Text conditioning travels
/// as ConditioningData with an empty pooled tensor [1, 0] (Wan has no pooled embedding).

#include <memory>

#include "nodes/models/wan/transformer.h"
#include "nodes/types/model_handles.h"

namespace lattice {

using WanTransformerHandle = ModelHandle<WanTransformer, WanConfig, PortType::DiT>;

/// UMT5-XXL and its SentencePiece tokenizer (Wan's text_encoder/ and tokenizer/).
class WanTextEncoderData final : public Data {
 public:
  WanTextEncoderData(std::shared_ptr<T5Handle> umt5, T5Tokenizer tokenizer)
      : umt5(std::move(umt5)), tokenizer(std::move(tokenizer)) {}
  PortType type() const override { return PortType::TextEncoder; }
  size_t bytes() const override { return sizeof(*this) + umt5->bytes(); }
  std::string describe() const override { return "Wan text encoder (UMT5) " + umt5->origin(); }
  std::shared_ptr<T5Handle> umt5;
  T5Tokenizer tokenizer;
};

/// Text tokens WanPipeline encodes (max_sequence_length).
inline constexpr int kWanTextTokens = 512;

}  // namespace lattice
