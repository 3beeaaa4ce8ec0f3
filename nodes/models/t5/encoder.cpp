#include "nodes/models/t5/encoder.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/unary.h"
#include "nodes/models/text_blocks.h"

namespace lattice {

using gpu::Tensor;

namespace {

const std::string kBias0 = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";

std::string block_prefix(int i) { return "encoder.block." + std::to_string(i) + ".layer."; }
std::string bias_name(int i) { return block_prefix(i) + "0.SelfAttention.relative_attention_bias.weight"; }

}  // namespace

void T5Config::validate() const {
  if (vocab_size <= 0 || d_model <= 0 || d_kv <= 0 || d_ff <= 0 || num_layers <= 0 || num_heads <= 0)
    throw_invalid("T5 config: sizes must be positive");
  if (d_kv > 256) throw_invalid("T5 config: d_kv " + std::to_string(d_kv) + " is over 256");
  if (relative_attention_num_buckets < 4 || relative_attention_num_buckets % 2 || relative_attention_max_distance <= 0)
    throw_invalid("T5 config: relative_attention_num_buckets must be even and at least 4, max distance positive");
}

T5Config t5_config_from_json(const nlohmann::json& j) {
  T5Config c;
  c.vocab_size = j.value("vocab_size", c.vocab_size);
  c.d_model = j.value("d_model", c.d_model);
  c.d_kv = j.value("d_kv", c.d_kv);
  c.d_ff = j.value("d_ff", c.d_ff);
  c.num_layers = j.value("num_layers", c.num_layers);
  c.num_heads = j.value("num_heads", c.num_heads);
  c.relative_attention_num_buckets = j.value("relative_attention_num_buckets", c.relative_attention_num_buckets);
  c.relative_attention_max_distance = j.value("relative_attention_max_distance", c.relative_attention_max_distance);
  c.layer_norm_epsilon = j.value("layer_norm_epsilon", c.layer_norm_epsilon);
  const std::string ff = j.value("feed_forward_proj", std::string("gated-gelu"));
  if (ff != "gated-gelu")
    throw_invalid("T5 config: feed_forward_proj '" + ff + "' is not supported (gated-gelu: T5 v1.1, FLAN-T5, UMT5)");
  // transformers maps "gated-gelu" to gelu_new (tanh) unless dense_act_fn says otherwise.
  const std::string act = j.value("dense_act_fn", std::string("gelu_new"));
  if (act == "gelu_new" || act == "gelu_pytorch_tanh") c.gelu_tanh = true;
  else if (act == "gelu") c.gelu_tanh = false;
  else throw_invalid("T5 config: dense_act_fn '" + act + "' is not supported (gelu_new, gelu_pytorch_tanh, gelu)");
  c.per_layer_position_bias = j.value("model_type", std::string("t5")) == "umt5";
  c.validate();
  return c;
}

T5Config detect_t5_config(const WeightSource& w) {
  const std::string emb = w.has("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
  if (!w.has(emb) || !w.has(kBias0))
    throw_invalid(w.origin() + ": not a T5 encoder checkpoint (no shared.weight or " + kBias0 + ")");
  if (!w.has(block_prefix(0) + "1.DenseReluDense.wi_0.weight"))
    throw_invalid(w.origin() + ": T5 encoder without a gated feed-forward (T5 v1.0 'relu') is not supported");
  T5Config c;
  if (w.config()) c = t5_config_from_json(*w.config());
  c.vocab_size = static_cast<int>(tensor_dim(w, emb, 0));
  c.d_model = static_cast<int>(tensor_dim(w, emb, 1));
  c.num_layers = w.count_blocks("encoder.block.");
  c.relative_attention_num_buckets = static_cast<int>(tensor_dim(w, kBias0, 0));
  c.num_heads = static_cast<int>(tensor_dim(w, kBias0, 1));
  c.d_kv = static_cast<int>(tensor_dim(w, block_prefix(0) + "0.SelfAttention.q.weight", 0) / c.num_heads);
  c.d_ff = static_cast<int>(tensor_dim(w, block_prefix(0) + "1.DenseReluDense.wi_0.weight", 0));
  if (c.num_layers > 1) c.per_layer_position_bias = w.has(bias_name(1));
  c.validate();
  return c;
}

int t5_relative_position_bucket(int64_t rel, int num_buckets, int max_distance) {
  // transformers' T5Attention._relative_position_bucket, bidirectional. The large-distance branch is float32
  // arithmetic (log of a float tensor divided by a float-cast scalar), truncated toward zero: doing it in
  // double would move a = 16, 32, 64 across bucket boundaries.
  const int half = num_buckets / 2, max_exact = half / 2;
  int bucket = rel > 0 ? half : 0;
  const int64_t a = std::llabs(rel);
  if (a < max_exact) return bucket + static_cast<int>(a);
  const float ratio = static_cast<float>(a) / static_cast<float>(max_exact);
  const float denom = static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact));
  const float scaled = std::log(ratio) / denom * static_cast<float>(half - max_exact);
  const int64_t large = max_exact + static_cast<int64_t>(scaled);
  return bucket + static_cast<int>(std::min<int64_t>(large, half - 1));
}

std::vector<float> t5_position_bias(std::span<const float> table, int num_heads, int64_t length, int num_buckets,
                                    int max_distance) {
  if (table.size() != static_cast<size_t>(num_buckets) * static_cast<size_t>(num_heads))
    throw_eval("T5 relative attention bias: table of " + std::to_string(table.size()) + " values, expected " +
               std::to_string(num_buckets) + " x " + std::to_string(num_heads));
  // The bias depends on j - i only: bucket each of the 2L-1 distances once.
  std::vector<int> bucket(static_cast<size_t>(2 * length - 1));
  for (int64_t r = -(length - 1); r < length; ++r)
    bucket[static_cast<size_t>(r + length - 1)] = t5_relative_position_bucket(r, num_buckets, max_distance);
  const size_t L = static_cast<size_t>(length), H = static_cast<size_t>(num_heads);
  std::vector<float> out(H * L * L);
  for (size_t h = 0; h < H; ++h)
    for (size_t i = 0; i < L; ++i)
      for (size_t j = 0; j < L; ++j) out[(h * L + i) * L + j] = table[static_cast<size_t>(bucket[j + L - 1 - i]) * H + h];
  return out;
}

T5Encoder::T5Encoder(T5Config config, DeviceWeights& w) : config_(config), weights_(w) {
  config_.validate();
  const WeightSource& src = w.source();
  embedding_ = src.has("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
  if (tensor_dim(src, embedding_, 1) != config_.d_model)
    throw_invalid(src.origin() + ": '" + embedding_ + "' does not have d_model " + std::to_string(config_.d_model) + " columns");
  for (int i = 0; i < config_.num_layers; ++i) {
    const std::string p = block_prefix(i);
    Block b;
    b.attn_norm = w.vector(p + "0.layer_norm.weight");
    b.q = Linear::load(w, p + "0.SelfAttention.q");
    b.k = Linear::load(w, p + "0.SelfAttention.k");
    b.v = Linear::load(w, p + "0.SelfAttention.v");
    b.o = Linear::load(w, p + "0.SelfAttention.o");
    if (i == 0 || config_.per_layer_position_bias) {
      const TensorInfo& t = src.info(bias_name(i));
      if (t.shape != std::vector<int64_t>{config_.relative_attention_num_buckets, config_.num_heads})
        throw_invalid(src.origin() + ": '" + bias_name(i) + "' should be [" + std::to_string(config_.relative_attention_num_buckets) +
                      ", " + std::to_string(config_.num_heads) + "]");
      b.relative_bias = src.load(bias_name(i)).to_f32();
    }
    b.ff_norm = w.vector(p + "1.layer_norm.weight");
    b.wi_0 = Linear::load(w, p + "1.DenseReluDense.wi_0");
    b.wi_1 = Linear::load(w, p + "1.DenseReluDense.wi_1");
    b.wo = Linear::load(w, p + "1.DenseReluDense.wo");
    if (b.q.out_features() != config_.inner_dim() || b.wi_0.out_features() != config_.d_ff)
      throw_invalid(src.origin() + ": block " + std::to_string(i) + " does not match the config (inner dim " +
                    std::to_string(config_.inner_dim()) + ", d_ff " + std::to_string(config_.d_ff) + ")");
    blocks_.push_back(std::move(b));
  }
  final_layer_norm_ = w.vector("encoder.final_layer_norm.weight");
}

void T5Encoder::block(gpu::CommandStream& s, const Block& b, Tensor& x, const Tensor& bias, const Tensor& key_mask) const {
  // x: [B, L, d_model]. T5 attention has no 1/sqrt(d) scaling (it is folded into the weights' init).
  const float eps = config_.layer_norm_epsilon;
  const Tensor n = gpu::rms_norm(s, x, eps, b.attn_norm);
  gpu::AttentionOptions o;
  o.scale = 1.0f;
  o.bias = bias;          // [H, L, L]
  o.key_mask = key_mask;  // [B, L] or undefined
  const Tensor a = attention(s, b.q(s, n), b.k(s, n), b.v(s, n), config_.num_heads, o);  // [B, L, H*d_kv]
  x = gpu::add(s, x, b.o(s, a));
  // Gated GELU: wo(act(wi_0 n) · wi_1 n); wi_*: [B, L, d_ff].
  const Tensor n2 = gpu::rms_norm(s, x, eps, b.ff_norm);
  const Tensor g = config_.gelu_tanh ? gpu::gelu_tanh(s, b.wi_0(s, n2)) : gpu::gelu(s, b.wi_0(s, n2));
  x = gpu::add(s, x, b.wo(s, gpu::mul(s, g, b.wi_1(s, n2))));
}

Tensor T5Encoder::encode(gpu::CommandStream& s, std::span<const int32_t> ids, std::span<const int32_t> mask, int64_t batch) {
  if (batch <= 0 || ids.empty() || ids.size() % static_cast<size_t>(batch))
    throw_eval("T5 encoder: " + std::to_string(ids.size()) + " ids do not make " + std::to_string(batch) + " equal rows");
  if (!mask.empty() && mask.size() != ids.size())
    throw_eval("T5 encoder: the attention mask has " + std::to_string(mask.size()) + " entries for " + std::to_string(ids.size()) +
               " ids");
  const int64_t B = batch, L = static_cast<int64_t>(ids.size()) / batch;
  gpu::Context& ctx = weights_.context();
  Tensor x = Tensor::from_floats(ctx, embedding_rows(weights_.source(), embedding_, ids), {B, L, config_.d_model});

  Tensor key_mask;  // additive [B, L]: -FLT_MAX on masked keys, as transformers (finite, so never NaN)
  if (!mask.empty()) {
    std::vector<float> m(mask.size());
    for (size_t i = 0; i < mask.size(); ++i) m[i] = mask[i] ? 0.0f : -FLT_MAX;
    key_mask = Tensor::from_floats(ctx, m, {B, L});
  }
  Tensor bias;  // [H, L, L], block 0's for T5, each block's own for UMT5
  for (const Block& b : blocks_) {
    if (!b.relative_bias.empty())
      bias = Tensor::from_floats(ctx,
                                 t5_position_bias(b.relative_bias, config_.num_heads, L, config_.relative_attention_num_buckets,
                                                  config_.relative_attention_max_distance),
                                 {config_.num_heads, L, L});
    block(s, b, x, bias, key_mask);
  }
  return gpu::rms_norm(s, x, config_.layer_norm_epsilon, final_layer_norm_);
}

Tensor T5Encoder::encode(gpu::CommandStream& s, std::span<const TokenBatch> prompts, bool use_mask) {
  const TokenRows rows = token_rows(prompts);
  return encode(s, rows.ids, use_mask ? std::span<const int32_t>(rows.mask) : std::span<const int32_t>(), rows.batch);
}

}  // namespace lattice
