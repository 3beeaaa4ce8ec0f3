#include "nodes/models/clip/text_encoder.h"

#include <algorithm>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/norm.h"
#include "nodes/models/text_blocks.h"

namespace lattice {

using gpu::Tensor;

namespace {

const std::string kPrefix = "text_model.";
const std::string kTokens = "text_model.embeddings.token_embedding.weight";
const std::string kPositions = "text_model.embeddings.position_embedding.weight";

ClipTextConfig validated(ClipTextConfig c) {
  c.validate();
  return c;
}

}  // namespace

void ClipTextConfig::validate() const {
  if (vocab_size <= 0 || hidden_size <= 0 || intermediate_size <= 0 || num_hidden_layers <= 0 || num_attention_heads <= 0 ||
      max_position_embeddings <= 0)
    throw_invalid("CLIP text config: sizes must be positive");
  if (hidden_size % num_attention_heads)
    throw_invalid("CLIP text config: hidden_size " + std::to_string(hidden_size) + " is not a multiple of num_attention_heads " +
                  std::to_string(num_attention_heads));
  if (head_dim() > 256) throw_invalid("CLIP text config: head dim " + std::to_string(head_dim()) + " is over 256");
}

ClipTextConfig clip_text_config_from_json(const nlohmann::json& json) {
  const nlohmann::json& j = json.contains("text_config") ? json["text_config"] : json;
  ClipTextConfig c;
  c.vocab_size = j.value("vocab_size", c.vocab_size);
  c.hidden_size = j.value("hidden_size", c.hidden_size);
  c.intermediate_size = j.value("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = j.value("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = j.value("num_attention_heads", c.num_attention_heads);
  c.max_position_embeddings = j.value("max_position_embeddings", c.max_position_embeddings);
  c.layer_norm_eps = j.value("layer_norm_eps", c.layer_norm_eps);
  c.hidden_act = parse_clip_activation(j.value("hidden_act", std::string("quick_gelu")), "CLIP text config");
  c.eos_token_id = j.value("eos_token_id", c.eos_token_id);
  c.validate();
  return c;
}

ClipTextConfig detect_clip_text_config(const WeightSource& w) {
  if (!w.has(kTokens)) throw_invalid(w.origin() + ": not a CLIP text encoder checkpoint (no " + kTokens + ")");
  ClipTextConfig c;
  if (w.config()) c = clip_text_config_from_json(*w.config());
  c.vocab_size = static_cast<int>(tensor_dim(w, kTokens, 0));
  c.hidden_size = static_cast<int>(tensor_dim(w, kTokens, 1));
  c.max_position_embeddings = static_cast<int>(tensor_dim(w, kPositions, 0));
  c.num_hidden_layers = w.count_blocks(kPrefix + "encoder.layers.");
  if (c.num_hidden_layers == 0) throw_invalid(w.origin() + ": not a CLIP text encoder checkpoint (no encoder layers)");
  c.intermediate_size = static_cast<int>(tensor_dim(w, kPrefix + "encoder.layers.0.mlp.fc1.weight", 0));
  if (!w.config()) {
    // Every released CLIP text tower has 64-wide heads (CLIP-L 768/12, OpenCLIP-H 1024/16, bigG 1280/20);
    // only bigG uses the exact GELU.
    if (c.hidden_size % 64)
      throw_invalid(w.origin() + ": CLIP text encoder " + std::to_string(c.hidden_size) +
                    " wide is not a released model; its head count needs a config.json beside the weights");
    c.num_attention_heads = c.hidden_size / 64;
    c.hidden_act = c.hidden_size == 1280 ? ClipTextConfig::Activation::Gelu : ClipTextConfig::Activation::QuickGelu;
  }
  c.validate();
  return c;
}

ClipTextEncoder::ClipTextEncoder(ClipTextConfig config, DeviceWeights& w)
    : config_(validated(config)),
      weights_(w),
      encoder_(w, kPrefix + "encoder.layers.",
               {config_.num_hidden_layers, config_.num_attention_heads, config_.layer_norm_eps, config_.hidden_act}) {
  const WeightSource& src = w.source();
  if (tensor_dim(src, kTokens, 1) != config_.hidden_size || tensor_dim(src, kPositions, 1) != config_.hidden_size)
    throw_invalid(src.origin() + ": CLIP embeddings do not have hidden_size " + std::to_string(config_.hidden_size) + " columns");
  final_layer_norm_w_ = w.vector(kPrefix + "final_layer_norm.weight");
  final_layer_norm_b_ = w.vector(kPrefix + "final_layer_norm.bias");
}

int64_t ClipTextEncoder::pool_position(std::span<const int32_t> row) const {
  if (config_.eos_token_id == 2) return std::max_element(row.begin(), row.end()) - row.begin();
  const auto it = std::find(row.begin(), row.end(), config_.eos_token_id);
  // transformers would index -1 (wrapping to the last position) when no EOS is present; do the same.
  return it == row.end() ? static_cast<int64_t>(row.size()) - 1 : it - row.begin();
}

ClipTextOutput ClipTextEncoder::encode(gpu::CommandStream& s, std::span<const int32_t> ids, int64_t batch) {
  if (batch <= 0 || ids.empty() || ids.size() % static_cast<size_t>(batch))
    throw_eval("CLIP text encoder: " + std::to_string(ids.size()) + " ids do not make " + std::to_string(batch) + " equal rows");
  const int64_t B = batch, L = static_cast<int64_t>(ids.size()) / batch, C = config_.hidden_size;
  if (L > config_.max_position_embeddings)
    throw_eval("CLIP text encoder: " + std::to_string(L) + " tokens per prompt, the model has " +
               std::to_string(config_.max_position_embeddings) + " positions");

  // Embeddings on the host: token rows + position rows 0..L-1 (float32 adds, as the reference).
  std::vector<float> x_host = embedding_rows(weights_.source(), kTokens, ids);
  std::vector<int32_t> positions(static_cast<size_t>(L));
  for (int64_t i = 0; i < L; ++i) positions[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  const std::vector<float> pos = embedding_rows(weights_.source(), kPositions, positions);
  const size_t width = static_cast<size_t>(C), len = static_cast<size_t>(L);
  for (size_t r = 0; r < x_host.size() / width; ++r)
    for (size_t c = 0; c < width; ++c) x_host[r * width + c] += pos[(r % len) * width + c];
  Tensor x = Tensor::from_floats(weights_.context(), x_host, {B, L, C});  // [B, L, C]

  ClipTextOutput out;
  x = encoder_.forward(s, x, true, encoder_.layers(), &out.penultimate);  // penultimate: hidden_states[-2]
  out.last_hidden = gpu::layer_norm(s, x, config_.layer_norm_eps, final_layer_norm_w_, final_layer_norm_b_);

  // pooled: one row per batch entry, gathered as [1, C] views of last_hidden.
  std::vector<Tensor> picked;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t p = pool_position(ids.subspan(static_cast<size_t>(b * L), static_cast<size_t>(L)));
    picked.push_back(out.last_hidden.view({1, C}, {C, 1}, out.last_hidden.offset() + (b * L + p) * C));
  }
  out.pooled = gpu::concat(s, picked, 0);  // [B, C]
  return out;
}

ClipTextOutput ClipTextEncoder::encode(gpu::CommandStream& s, std::span<const TokenBatch> prompts) {
  const TokenRows rows = token_rows(prompts);
  return encode(s, rows.ids, rows.batch);
}

}  // namespace lattice
