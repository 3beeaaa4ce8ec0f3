#include "nodes/models/ltx/transformer.h"

#include <cmath>

#include "core/error.h"
#include "gpu/ops/attention.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/modulate.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/unary.h"

namespace lattice {

using gpu::Tensor;

gpu::RopeTables ltx_rope_tables(const std::vector<std::array<float, 3>>& coords, int64_t dim) {
  if (dim < 6 || dim % 2) throw_eval("LTX-Video RoPE: width " + std::to_string(dim) + " must be even and at least 6");
  // float32 throughout, in diffusers' order: the high frequencies reach ~1.6e4 rad, where one rounding
  // difference in the angle moves cos/sin visibly.
  const int64_t n = dim / 6, pad = dim % 6;
  std::vector<float> freq(static_cast<size_t>(n));
  const float step = n > 1 ? 1.0f / static_cast<float>(n - 1) : 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    // torch.linspace fills the second half backwards from the end.
    const float e = j < n / 2 ? step * static_cast<float>(j) : 1.0f - step * static_cast<float>(n - 1 - j);
    freq[static_cast<size_t>(j)] = std::pow(10000.0f, e) * static_cast<float>(M_PI) / 2.0f;
  }
  const float base[3] = {20.0f, 2048.0f, 2048.0f};
  gpu::RopeTables t;
  t.length = static_cast<int64_t>(coords.size());
  t.width = dim;
  t.cos.assign(static_cast<size_t>(t.length * dim), 1.0f);
  t.sin.assign(static_cast<size_t>(t.length * dim), 0.0f);
  for (int64_t token = 0; token < t.length; ++token) {
    float* c = t.cos.data() + token * dim + pad;
    float* s = t.sin.data() + token * dim + pad;
    for (int a = 0; a < 3; ++a) {
      const float pos = coords[static_cast<size_t>(token)][static_cast<size_t>(a)] / base[a];
      const float centred = pos * 2.0f - 1.0f;
      for (int64_t j = 0; j < n; ++j) {
        const float angle = freq[static_cast<size_t>(j)] * centred;
        const int64_t col = 2 * (j * 3 + a);
        c[col] = c[col + 1] = std::cos(angle);
        s[col] = s[col + 1] = std::sin(angle);
      }
    }
  }
  return t;
}

gpu::RopeTables ltx_rope_tables(int64_t frames, int64_t height, int64_t width, const std::array<float, 3>& scale, int64_t dim) {
  if (frames <= 0 || height <= 0 || width <= 0) throw_eval("LTX-Video RoPE: the latent grid must be non-empty");
  std::vector<std::array<float, 3>> coords;
  coords.reserve(static_cast<size_t>(frames * height * width));
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t h = 0; h < height; ++h)
      for (int64_t w = 0; w < width; ++w)  // patch sizes are 1
        coords.push_back({static_cast<float>(f) * scale[0], static_cast<float>(h) * scale[1], static_cast<float>(w) * scale[2]});
  return ltx_rope_tables(coords, dim);
}

std::vector<std::string> ltx_block_prefixes(const LtxTransformerConfig& c) {
  std::vector<std::string> p;
  for (int i = 0; i < c.num_layers; ++i) p.push_back("transformer_blocks." + std::to_string(i) + ".");
  return p;
}

uint64_t ltx_activation_bytes(const LtxTransformerConfig& c, int64_t tokens, int64_t text_tokens, int64_t batch,
                              bool per_token_timesteps) {
  // f32 values alive while one block runs (every temporary of a block lives until its submission is done),
  // counted from block() and attend() below, per video token: the modulation (6C), norm and modulated input
  // (2C), self-attention's q, k, v with their norms and rotations, output and projection (10C), the gated
  // stream (C), cross-attention's q, norm, output, projection and sum (5C), the FFN's norm, modulated input,
  // hidden layer, projection and gated stream (4C + F): 28C + F. Per text token: the caption projection and
  // its hidden layer (2C) and each attention's k, norm and v (3C). Between blocks and around them: the
  // stream, the packed input and output, the timestep embeddings (with per-token timesteps, per token: the
  // 256 sinusoids, the MLP's hidden layer, its activation, the embedding, its activation and the 6C
  // modulation: 256 + 10C; else per entry), 64C per entry for the small vectors.
  const uint64_t C = static_cast<uint64_t>(c.inner_dim()), F = static_cast<uint64_t>(c.ff_hidden());
  const uint64_t L = static_cast<uint64_t>(tokens), T = static_cast<uint64_t>(text_tokens);
  const uint64_t per_token = 28 * C + F + C + static_cast<uint64_t>(c.in_channels + c.out_channels) + (per_token_timesteps ? 256 + 10 * C : 0);
  const uint64_t per_entry = L * per_token + T * (5 * C + static_cast<uint64_t>(c.caption_channels)) + 64 * C;
  // Self- and cross-attention's scratch (gpu/ops/attention.h).
  const uint64_t attention = gpu::attention_scratch_bytes(tokens, tokens, c.attention_head_dim) +
                             gpu::attention_scratch_bytes(tokens, text_tokens, c.attention_head_dim);
  return 4 * static_cast<uint64_t>(batch) * per_entry + attention;
}

LtxTransformer::Attention LtxTransformer::load_attention(DeviceWeights& w, const std::string& p) {
  Attention a;
  a.to_q = Linear::load(w, p + "to_q");
  a.to_k = Linear::load(w, p + "to_k");
  a.to_v = Linear::load(w, p + "to_v");
  a.to_out = Linear::load(w, p + "to_out.0");
  a.norm_q = w.vector(p + "norm_q.weight");
  a.norm_k = w.vector(p + "norm_k.weight");
  return a;
}

LtxTransformer::LtxTransformer(LtxTransformerConfig config, DeviceWeights& w) : config_(config), ctx_(w.context()) {
  config_.validate();
  proj_in_ = Linear::load(w, "proj_in");
  time_linear_1_ = Linear::load(w, "time_embed.emb.timestep_embedder.linear_1");
  time_linear_2_ = Linear::load(w, "time_embed.emb.timestep_embedder.linear_2");
  time_linear_ = Linear::load(w, "time_embed.linear");
  caption_1_ = Linear::load(w, "caption_projection.linear_1");
  caption_2_ = Linear::load(w, "caption_projection.linear_2");
  blocks_ = std::make_unique<BlockStreamer>(w, ltx_block_prefixes(config_));
  scale_shift_table_ = w.f32("scale_shift_table");
  if (scale_shift_table_.shape() != gpu::Shape{2, config_.inner_dim()})
    throw_invalid(w.source().origin() + ": 'scale_shift_table' is " + scale_shift_table_.describe() + ", expected [2, " +
                  std::to_string(config_.inner_dim()) + "]");
  proj_out_ = Linear::load(w, "proj_out");
}

LtxTransformer::Block LtxTransformer::load_block(DeviceWeights& w, int i) const {
  const std::string p = "transformer_blocks." + std::to_string(i) + ".";
  Block b;
  b.attn1 = load_attention(w, p + "attn1.");
  b.attn2 = load_attention(w, p + "attn2.");
  b.ff1 = Linear::load(w, p + "ff.net.0.proj");
  b.ff2 = Linear::load(w, p + "ff.net.2");
  b.scale_shift_table = w.f32(p + "scale_shift_table");
  if (b.scale_shift_table.shape() != gpu::Shape{6, config_.inner_dim()})
    throw_invalid(w.source().origin() + ": '" + p + "scale_shift_table' is " + b.scale_shift_table.describe() +
                  ", expected [6, " + std::to_string(config_.inner_dim()) + "]");
  return b;
}

Tensor LtxTransformer::attend(gpu::CommandStream& s, const Attention& a, const Tensor& x, const Tensor& kv, const Tensor* cos,
                              const Tensor* sin, const Tensor& key_bias) {
  // Q/K RMSNorm over all heads at once; RoPE (self-attention only) on the whole inner width.
  Tensor q = gpu::rms_norm(s, a.to_q(s, x), 1e-5f, a.norm_q);
  Tensor k = gpu::rms_norm(s, a.to_k(s, kv), 1e-5f, a.norm_k);
  if (cos) {
    q = gpu::rope(s, q, *cos, *sin);
    k = gpu::rope(s, k, *cos, *sin);
  }
  const Tensor o = attention(s, q, k, a.to_v(s, kv), config_.num_attention_heads,
                             1.0f / std::sqrt(static_cast<float>(config_.attention_head_dim)), key_bias);
  return a.to_out(s, o);
}

void LtxTransformer::block(gpu::CommandStream& s, const Block& b, Tensor& x, const Tensor& ctx, const Tensor& temb,
                           const Tensor& cos, const Tensor& sin, const Tensor& key_bias) {
  // temb: [B, T, 6C] (T = 1 or S). Add the block's table: (shift, scale, gate, shift_mlp, scale_mlp, gate_mlp).
  const int64_t B = temb.dim(0), T = temb.dim(1), C = config_.inner_dim();
  const Tensor ada = gpu::add(s, temb.reshape({B, T, 6, C}), b.scale_shift_table).reshape({B, T, 6 * C});
  auto part = [&](int i) { return chunk(ada, 6, i); };  // [B, T, C] views; modulate broadcasts T = 1

  const Tensor n1 = gpu::norm_modulate(s, x, gpu::RowNorm::Rms, config_.norm_eps, part(0), part(1));
  x = gated_add(s, x, part(2), attend(s, b.attn1, n1, n1, &cos, &sin, {}));
  // Cross-attention on the raw stream: no norm, no gate.
  x = gpu::add(s, x, attend(s, b.attn2, x, ctx, nullptr, nullptr, key_bias));
  const Tensor n2 = gpu::norm_modulate(s, x, gpu::RowNorm::Rms, config_.norm_eps, part(3), part(4));
  x = gated_add(s, x, part(5), b.ff2(s, b.ff1(s, n2, gpu::UnaryOp::GeluTanh)));
}

Tensor LtxTransformer::forward(gpu::CommandStream& s, const Tensor& hidden, const Tensor& context,
                               const std::vector<float>& text_mask, const std::vector<float>& timestep, const Tensor& rope_cos,
                               const Tensor& rope_sin) {
  const int64_t C = config_.inner_dim();
  if (hidden.rank() != 3 || hidden.dim(2) != config_.in_channels)
    throw_eval("LTX-Video transformer: hidden states " + hidden.describe() + " should be [B, S, " +
               std::to_string(config_.in_channels) + "]");
  const int64_t B = hidden.dim(0), S = hidden.dim(1);
  if (context.rank() != 3 || context.dim(0) != B || context.dim(2) != config_.caption_channels)
    throw_eval("LTX-Video transformer: text embeddings " + context.describe() + " should be [" + std::to_string(B) + ", L, " +
               std::to_string(config_.caption_channels) + "]");
  const int64_t L = context.dim(1);
  if (!text_mask.empty() && static_cast<int64_t>(text_mask.size()) != B * L)
    throw_eval("LTX-Video transformer: the text mask has " + std::to_string(text_mask.size()) + " values, expected " +
               std::to_string(B * L));
  const int64_t n_t = static_cast<int64_t>(timestep.size());
  if (n_t != B && n_t != B * S)
    throw_eval("LTX-Video transformer: " + std::to_string(n_t) + " timesteps given; expected one per video (" +
               std::to_string(B) + ") or one per token (" + std::to_string(B * S) + ")");
  if (rope_cos.rank() != 2 || rope_cos.dim(0) != S || rope_cos.dim(1) != C)
    throw_eval("LTX-Video transformer: RoPE table " + rope_cos.describe() + " should be [" + std::to_string(S) + ", " +
               std::to_string(C) + "]");

  // Before anything is recorded, so that what is in use is the weights and inputs alone.
  blocks_->plan_forward(ltx_activation_bytes(config_, S, L, B, n_t != B), "LTX-Video transformer");

  // AdaLayerNormSingle: embedded = MLP(sinusoid(t)); temb = linear(silu(embedded)) -> 6 vectors per block.
  const int64_t T = n_t / B;
  const Tensor sinusoid = Tensor::from_floats(ctx_, timestep_embedding(timestep, 256, true, 0.0f), {B * T, 256});
  const Tensor embedded = time_linear_2_(s, gpu::silu(s, time_linear_1_(s, sinusoid))).reshape({B, T, C});
  const Tensor temb = time_linear_(s, gpu::silu(s, embedded));  // [B, T, 6C]

  Tensor key_bias;
  if (!text_mask.empty()) {
    std::vector<float> bias(text_mask.size());
    for (size_t i = 0; i < bias.size(); ++i) bias[i] = (1.0f - text_mask[i]) * -10000.0f;
    key_bias = Tensor::from_floats(ctx_, bias, {B, L});
  }
  const Tensor ctx = caption_2_(s, caption_1_(s, context, gpu::UnaryOp::GeluTanh));

  Tensor x = proj_in_(s, hidden);
  // One submission per block (BlockStreamer::acquire finishes the previous one), so that temporaries and
  // streamed weights stay within ltx_activation_bytes and the plan.
  for (int i = 0; i < blocks_->size(); ++i) {
    block(s, load_block(blocks_->acquire(s, i), i), x, ctx, temb, rope_cos, rope_sin, key_bias);
    blocks_->release(s, i);
  }

  // Output modulation: (shift, scale) = scale_shift_table + embedded timestep, shift first.
  const Tensor ss = gpu::add(s, embedded.reshape({B, T, 1, C}), scale_shift_table_).reshape({B, T, 2 * C});
  auto part = [&](int i) { return chunk(ss, 2, i); };
  x = gpu::norm_modulate(s, x, gpu::RowNorm::Layer, 1e-6f, part(0), part(1));
  return proj_out_(s, x);
}

}  // namespace lattice
