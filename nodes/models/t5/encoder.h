#pragma once
/// The T5 encoder (transformers T5EncoderModel: FLUX `text_encoder_2`, T5 v1.1 / FLAN-T5) and the UMT5
/// encoder (UMT5EncoderModel: Wan `text_encoder`), one implementation: UMT5 differs only in giving every
/// block its own relative attention bias. Blocks are named after the transformers keys (`shared`,
/// `encoder.block.N.layer.0.SelfAttention.{q,k,v,o,relative_attention_bias}`,
/// `encoder.block.N.layer.1.DenseReluDense.{wi_0,wi_1,wo}`, `encoder.final_layer_norm`). Math:
/// tests/golden/README.md, "T5 / UMT5 encoders".
///
/// Contract. The constructor uploads the block weights through the caller's DeviceWeights (which must
/// outlive the encoder) and keeps the small relative-bias tables on the host; the embedding table stays in
/// the WeightSource and only the rows a call needs are read. encode() records one forward into the
/// caller's CommandStream and returns the device tensor; the caller submits. The position bias is built on
/// the host per call as [H, L, L] f32 (UMT5: one per block, all alive until the stream completes).
/// Not thread-safe (DeviceWeights caches); one encoder per thread.

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "nodes/models/nn.h"
#include "nodes/models/token_batch.h"

namespace lattice {

struct T5Config {
  int vocab_size = 32128;  ///< T5 v1.1 XXL (FLUX); UMT5-XXL (Wan): 256384
  int d_model = 4096;
  int d_kv = 64;           ///< head dim; num_heads * d_kv may differ from d_model
  int d_ff = 10240;
  int num_layers = 24;
  int num_heads = 64;
  int relative_attention_num_buckets = 32;
  int relative_attention_max_distance = 128;
  float layer_norm_epsilon = 1e-6f;
  bool gelu_tanh = true;             ///< dense_act_fn gelu_new / gelu_pytorch_tanh (true) or gelu (false)
  bool per_layer_position_bias = false;  ///< UMT5: every block has its own relative_attention_bias

  int inner_dim() const { return num_heads * d_kv; }
  /// Throws Error(InvalidInput) describing the first inconsistency.
  void validate() const;
};

/// From a transformers T5Config / UMT5Config (config.json); `model_type` "umt5" sets per_layer_position_bias.
/// Only gated-GELU feed-forwards (T5 v1.1, FLAN-T5, UMT5) are supported; "relu" (T5 v1.0) is refused.
T5Config t5_config_from_json(const nlohmann::json& j);

/// From the weights: layers from `encoder.block.N.`, width and vocabulary from `shared` (or its tied copy
/// `encoder.embed_tokens`), buckets and heads from block 0's relative_attention_bias [buckets, heads],
/// d_kv from q, d_ff from wi_0, UMT5 when block 1 has its own bias. The maximum distance is not in the
/// weights: w.config() when present, else 128 (every released T5/UMT5). Throws Error(InvalidInput) when the
/// weights are not a gated T5 encoder.
T5Config detect_t5_config(const WeightSource& w);

/// T5's bidirectional relative position bucket for rel = key_pos - query_pos, with transformers' float32
/// log and truncation (tests/golden/README.md).
int t5_relative_position_bucket(int64_t rel, int num_buckets, int max_distance);

/// The bias [H, L, L] (bias[h, i, j] = table[bucket(j - i), h]) from a relative_attention_bias table
/// [num_buckets, H] given row-major.
std::vector<float> t5_position_bias(std::span<const float> table, int num_heads, int64_t length, int num_buckets,
                                    int max_distance);

class T5Encoder {
 public:
  T5Encoder(T5Config config, DeviceWeights& weights);
  const T5Config& config() const { return config_; }

  /// ids: [batch, L] row-major. mask: [batch, L] (1 = keep) or empty for no mask; masked positions are
  /// left out as keys only (padded query rows are still computed, as in transformers).
  /// Returns last_hidden_state [B, L, d_model] after the final norm.
  gpu::Tensor encode(gpu::CommandStream& s, std::span<const int32_t> ids, std::span<const int32_t> mask, int64_t batch);
  /// The same for tokenizer output (T5Tokenizer::encode_padded), one prompt per batch entry. FLUX encodes
  /// without the mask (use_mask false); Wan passes it (and zeroes the padded rows itself afterwards).
  gpu::Tensor encode(gpu::CommandStream& s, std::span<const TokenBatch> prompts, bool use_mask);

 private:
  struct Block {
    gpu::Tensor attn_norm;             // layer.0.layer_norm
    Linear q, k, v, o;                 // layer.0.SelfAttention.*
    std::vector<float> relative_bias;  // layer.0.SelfAttention.relative_attention_bias [buckets, H], or empty
    gpu::Tensor ff_norm;               // layer.1.layer_norm
    Linear wi_0, wi_1, wo;             // layer.1.DenseReluDense.*
  };
  void block(gpu::CommandStream& s, const Block& b, gpu::Tensor& x, const gpu::Tensor& bias, const gpu::Tensor& key_mask) const;

  T5Config config_;
  DeviceWeights& weights_;
  std::string embedding_;  // shared.weight, or its tied copy
  std::vector<Block> blocks_;
  gpu::Tensor final_layer_norm_;
};

}  // namespace lattice
