#include "nodes/models/wan/transformer.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/modulate.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/patchify.h"
#include "gpu/ops/rope.h"
#include "gpu/ops/unary.h"
#include "nodes/models/chunked_attention.h"

namespace lattice {

using gpu::Tensor;

uint64_t wan_activation_bytes(const WanConfig& c, int64_t tokens, int64_t text_tokens, int64_t batch) {
  // The largest sub-layer: self-attention holds x, its norm and modulation, q, k, v, their norms and
  // rotations, the attention output, its projection and the new x (13 x width per token); the FFN holds x,
  // norm, modulation, two hidden layers, the projection and the new x (5 x width + 2 x ffn_dim). The first
  // sub-layer also holds the patchified latent and its embedding's input, recorded with it; the RoPE
  // tables (cos, sin: head_dim each per token) stay with the model; 64 x width per entry covers the
  // timestep embeddings and modulation vectors.
  const double width = c.inner_dim(), patch = static_cast<double>(c.in_channels) * c.patch_volume();
  const double per_token = std::max(13.0 * width, 5.0 * width + 2.0 * c.ffn_dim) + patch;
  const double per_entry =
      static_cast<double>(tokens) * per_token + static_cast<double>(text_tokens) * 4.0 * width + 64.0 * width;
  const double rope = 2.0 * static_cast<double>(tokens) * c.attention_head_dim;
  // Self-attention's and cross-attention's scratch (gpu/ops/attention.h; the image branch's keys, 257, are
  // counted as text's).
  const uint64_t attention = gpu::attention_scratch_bytes(tokens, tokens, c.attention_head_dim) +
                             2 * gpu::attention_scratch_bytes(tokens, std::max<int64_t>(text_tokens, 257), c.attention_head_dim);
  return static_cast<uint64_t>(4.0 * (static_cast<double>(batch) * per_entry + rope)) + attention;
}

std::vector<std::string> wan_block_prefixes(const WanConfig& c) {
  std::vector<std::string> p;
  for (int i = 0; i < c.num_layers; ++i) p.push_back("blocks." + std::to_string(i) + ".");
  return p;
}

WanTransformer::Attention WanTransformer::load_attention(DeviceWeights& w, const std::string& p, bool image) const {
  Attention a;
  a.to_q = Linear::load(w, p + "to_q");
  a.to_k = Linear::load(w, p + "to_k");
  a.to_v = Linear::load(w, p + "to_v");
  a.to_out = Linear::load(w, p + "to_out.0");
  a.norm_q = w.vector(p + "norm_q.weight");
  a.norm_k = w.vector(p + "norm_k.weight");
  if (image) {
    a.add_k_proj = Linear::load(w, p + "add_k_proj");
    a.add_v_proj = Linear::load(w, p + "add_v_proj");
    a.norm_added_k = w.vector(p + "norm_added_k.weight");
  }
  return a;
}

WanTransformer::WanTransformer(WanConfig config, DeviceWeights& w) : config_(config), ctx_(w.context()) {
  config_.validate();
  const int64_t inner = config_.inner_dim();
  // The patch Conv3d (kernel = stride = patch) is a linear map of each patchified token; its weight
  // [inner, C, t, h, w] flattens to [inner, C·t·h·w] in the ChannelMajor patch order.
  patch_embedding_.weight = w.f32("patch_embedding.weight").reshape({inner, int64_t{config_.in_channels} * config_.patch_volume()});
  patch_embedding_.bias = w.vector("patch_embedding.bias");
  time_embedder1_ = Linear::load(w, "condition_embedder.time_embedder.linear_1");
  time_embedder2_ = Linear::load(w, "condition_embedder.time_embedder.linear_2");
  time_proj_ = Linear::load(w, "condition_embedder.time_proj");
  text_embedder1_ = Linear::load(w, "condition_embedder.text_embedder.linear_1");
  text_embedder2_ = Linear::load(w, "condition_embedder.text_embedder.linear_2");
  const bool i2v = config_.image_to_video();
  if (i2v) {
    const std::string p = "condition_embedder.image_embedder.";
    image_embedder_.norm1_weight = w.vector(p + "norm1.weight");
    image_embedder_.norm1_bias = w.vector(p + "norm1.bias");
    image_embedder_.ff1 = Linear::load(w, p + "ff.net.0.proj");
    image_embedder_.ff2 = Linear::load(w, p + "ff.net.2");
    image_embedder_.norm2_weight = w.vector(p + "norm2.weight");
    image_embedder_.norm2_bias = w.vector(p + "norm2.bias");
  }
  blocks_ = std::make_unique<BlockStreamer>(w, wan_block_prefixes(config_));
  scale_shift_table_ = w.f32("scale_shift_table").reshape({1, 2, inner});
  proj_out_ = Linear::load(w, "proj_out");
}

WanTransformer::Block WanTransformer::load_block(DeviceWeights& w, int i) const {
  const std::string p = "blocks." + std::to_string(i) + ".";
  Block b;
  b.attn1 = load_attention(w, p + "attn1.", false);
  b.attn2 = load_attention(w, p + "attn2.", config_.image_to_video());
  if (config_.cross_attn_norm) {
    b.norm2_weight = w.vector(p + "norm2.weight");
    b.norm2_bias = w.vector(p + "norm2.bias");
  }
  b.ffn1 = Linear::load(w, p + "ffn.net.0.proj");
  b.ffn2 = Linear::load(w, p + "ffn.net.2");
  b.scale_shift_table = w.f32(p + "scale_shift_table").reshape({1, 6 * int64_t{config_.inner_dim()}});
  return b;
}

const WanTransformer::Rope& WanTransformer::rope(int64_t f, int64_t h, int64_t w) {
  const auto key = std::make_tuple(f, h, w);
  if (auto it = ropes_.find(key); it != ropes_.end()) return it->second;
  // Positions are the patch-grid coordinates (f, h, w), tokens in (f, h, w) row-major order; the head dim
  // is split into (t, h, w) axes, each rotated by its own coordinate (angles in float64, as diffusers).
  std::vector<float> ids;
  ids.reserve(static_cast<size_t>(f * h * w * 3));
  for (int64_t a = 0; a < f; ++a)
    for (int64_t b = 0; b < h; ++b)
      for (int64_t c = 0; c < w; ++c) {
        ids.push_back(static_cast<float>(a));
        ids.push_back(static_cast<float>(b));
        ids.push_back(static_cast<float>(c));
      }
  const auto axes = config_.rope_axes();
  const gpu::RopeTables t = gpu::flux_rope_tables(ids, axes);
  Rope r{Tensor::from_floats(ctx_, t.cos, {t.length, t.width}), Tensor::from_floats(ctx_, t.sin, {t.length, t.width})};
  return ropes_.emplace(key, std::move(r)).first->second;
}

void WanTransformer::block(gpu::CommandStream& s, const Block& b, std::vector<Tensor>& x, const Tensor& text,
                           const Tensor& image, const Tensor& timestep_proj, const Rope& rope) {
  const int64_t H = config_.num_attention_heads;
  const float eps = config_.eps, scale = 1.0f / std::sqrt(static_cast<float>(config_.attention_head_dim));
  // (shift, scale, gate, c_shift, c_scale, c_gate) = scale_shift_table + timestep_proj. mod: [B, 6·C]
  const Tensor mod = gpu::add(s, b.scale_shift_table, timestep_proj);

  // Self-attention: Q/K RMSNorm across all heads, then RoPE (each chunk with its rows of the tables).
  // x_i: [B, l_i, C]
  const Attention& a1 = b.attn1;
  {
    std::vector<Tensor> q, k, v;
    int64_t row = 0;
    for (const Tensor& xi : x) {
      const int64_t l = xi.dim(1);
      const Tensor cos = x.size() == 1 ? rope.cos : gpu::narrow(rope.cos, 0, row, l);
      const Tensor sin = x.size() == 1 ? rope.sin : gpu::narrow(rope.sin, 0, row, l);
      const Tensor nx = gpu::norm_modulate(s, xi, gpu::RowNorm::Layer, eps, chunk(mod, 6, 0), chunk(mod, 6, 1));
      q.push_back(rope_interleaved(s, gpu::rms_norm(s, a1.to_q(s, nx), eps, a1.norm_q), cos, sin, H));
      k.push_back(rope_interleaved(s, gpu::rms_norm(s, a1.to_k(s, nx), eps, a1.norm_k), cos, sin, H));
      v.push_back(a1.to_v(s, nx));
      row += l;
    }
    gpu::AttentionOptions o;
    o.scale = scale;
    const std::vector<Tensor> out = chunked_attention(s, q, k, v, H, o);
    for (size_t i = 0; i < x.size(); ++i) x[i] = gated_add(s, x[i], chunk(mod, 6, 2), a1.to_out(s, out[i]));
  }
  s.finish();  // bounds live temporaries to one sub-layer (the stream keeps every recorded buffer until then)

  // Cross-attention to the text (and the image tokens, as a second attention summed before to_out); no gate.
  const Attention& a2 = b.attn2;
  const Tensor ck = gpu::rms_norm(s, a2.to_k(s, text), eps, a2.norm_k), cv = a2.to_v(s, text);
  Tensor ik, iv;
  if (image.defined()) {
    ik = gpu::rms_norm(s, a2.add_k_proj(s, image), eps, a2.norm_added_k);
    iv = a2.add_v_proj(s, image);
  }
  for (Tensor& xi : x) {
    const Tensor n2 = config_.cross_attn_norm ? gpu::layer_norm(s, xi, eps, b.norm2_weight, b.norm2_bias) : xi;
    const Tensor cq = gpu::rms_norm(s, a2.to_q(s, n2), eps, a2.norm_q);
    Tensor o = attention(s, cq, ck, cv, H, scale);
    if (image.defined()) o = gpu::add(s, o, attention(s, cq, ik, iv, H, scale));
    xi = gpu::add(s, xi, a2.to_out(s, o));
  }
  s.finish();

  // Feed-forward: GELU (tanh); in row chunks where the ffn_dim-wide hidden layer would not fit one buffer.
  for (Tensor& xi : x) {
    const Tensor n3 = gpu::norm_modulate(s, xi, gpu::RowNorm::Layer, eps, chunk(mod, 6, 3), chunk(mod, 6, 4));
    xi = gated_add(s, xi, chunk(mod, 6, 5), map_token_chunks(s, n3, b.ffn1.out_features(), [&](const Tensor& t, int64_t) {
                     return b.ffn2(s, b.ffn1(s, t, gpu::UnaryOp::GeluTanh));
                   }));
  }
  // The caller submits the FFN (BlockStreamer::release, which uploads the next streamed block meanwhile).
}

Tensor WanTransformer::forward(gpu::CommandStream& s, const Tensor& hidden, const std::vector<float>& timestep,
                               const Tensor& context, const Tensor& image) {
  const WanConfig& c = config_;
  if (hidden.rank() != 5 || hidden.dim(1) != c.in_channels)
    throw_eval("Wan transformer: hidden states " + hidden.describe() + " should be [B, " + std::to_string(c.in_channels) +
               ", F, H, W]");
  const int64_t B = hidden.dim(0);
  const gpu::Patch patch{c.patch_size[0], c.patch_size[1], c.patch_size[2]};
  if (hidden.dim(2) % patch.t || hidden.dim(3) % patch.h || hidden.dim(4) % patch.w)
    throw_eval("Wan transformer: latent " + hidden.describe() + " is not divisible by the patch (" + std::to_string(patch.t) +
               ", " + std::to_string(patch.h) + ", " + std::to_string(patch.w) + ")");
  const gpu::PatchGrid grid{hidden.dim(2) / patch.t, hidden.dim(3) / patch.h, hidden.dim(4) / patch.w};
  if (std::max({grid.f, grid.h, grid.w}) > c.rope_max_seq_len)
    throw_eval("Wan transformer: patch grid " + std::to_string(grid.f) + "x" + std::to_string(grid.h) + "x" +
               std::to_string(grid.w) + " exceeds rope_max_seq_len " + std::to_string(c.rope_max_seq_len));
  if (context.rank() != 3 || context.dim(0) != B || context.dim(2) != c.text_dim)
    throw_eval("Wan transformer: text embeddings " + context.describe() + " should be [" + std::to_string(B) + ", L, " +
               std::to_string(c.text_dim) + "]");
  if (static_cast<int64_t>(timestep.size()) != B)
    throw_eval("Wan transformer: " + std::to_string(timestep.size()) + " timesteps for a batch of " + std::to_string(B));
  if (c.image_to_video() != image.defined())
    throw_eval(c.image_to_video() ? "Wan I2V transformer: the CLIP image embedding is missing"
                                  : "Wan T2V transformer: an image embedding was given to a text-to-video model");
  if (image.defined() && (image.rank() != 3 || image.dim(0) != B || image.dim(1) != kWanImageTokens || image.dim(2) != c.image_dim))
    throw_eval("Wan I2V transformer: image embedding " + image.describe() + " should be [" + std::to_string(B) + ", " +
               std::to_string(kWanImageTokens) + ", " + std::to_string(c.image_dim) + "]");

  // Before anything is recorded, so that what is in use is the weights and inputs alone.
  const int64_t text_tokens = context.dim(1) + (image.defined() ? image.dim(1) : 0);
  blocks_->plan_forward(wan_activation_bytes(c, grid.f * grid.h * grid.w, text_tokens, B), "Wan transformer");

  // Patch embedding: tokens [B, L, C·P] in (f, h, w) order -> [B, L, inner], as row chunks that fit a buffer.
  const int64_t inner = c.inner_dim();
  const int64_t widest = std::max({inner, int64_t{c.in_channels} * c.patch_volume(), int64_t{c.out_channels} * c.patch_volume()});
  const int64_t rows = rows_per_buffer(ctx_, B, widest);
  std::vector<Tensor> x;
  for (const Tensor& t : split_rows(s, gpu::patchify(s, hidden, patch, gpu::PatchOrder::ChannelMajor), rows))
    x.push_back(patch_embedding_(s, t));

  // Conditions: temb = TimestepEmbedding(sinusoids(t)) [B, inner]; timestep_proj = time_proj(silu(temb)) [B, 6·inner].
  const auto sinusoids = timestep_embedding(timestep, c.freq_dim, true, 0.0f);
  const Tensor temb = time_embedder2_(s, gpu::silu(s, time_embedder1_(s, Tensor::from_floats(ctx_, sinusoids, {B, c.freq_dim}))));
  const Tensor timestep_proj = time_proj_(s, gpu::silu(s, temb));
  const Tensor text = text_embedder2_(s, text_embedder1_(s, context, gpu::UnaryOp::GeluTanh));
  Tensor img;
  if (image.defined()) {
    const ImageEmbedder& e = image_embedder_;
    const Tensor n = gpu::layer_norm(s, image, 1e-5f, e.norm1_weight, e.norm1_bias);  // FP32LayerNorm default eps
    img = gpu::layer_norm(s, e.ff2(s, gpu::gelu(s, e.ff1(s, n))), 1e-5f, e.norm2_weight, e.norm2_bias);
  }

  const Rope& r = rope(grid.f, grid.h, grid.w);
  // BlockStreamer::acquire finishes the previous block (block() also finishes each sub-layer), so that
  // temporaries and streamed weights stay within wan_activation_bytes and the plan.
  for (int i = 0; i < blocks_->size(); ++i) {
    block(s, load_block(blocks_->acquire(s, i), i), x, text, img, timestep_proj, r);
    blocks_->release(s, i);
  }

  // Output norm: (shift, scale) = scale_shift_table + temb (the raw temb, shift first); the projection back
  // to patches is as narrow as the latent, so its chunks join into one tensor.
  const Tensor mod = gpu::add(s, scale_shift_table_, temb.reshape({B, 1, inner})).reshape({B, 2 * inner});
  std::vector<Tensor> out;
  for (const Tensor& xi : x)
    out.push_back(proj_out_(s, gpu::norm_modulate(s, xi, gpu::RowNorm::Layer, c.eps, chunk(mod, 2, 0), chunk(mod, 2, 1))));
  x.clear();
  const Tensor tokens = out.size() == 1 ? out[0] : gpu::concat(s, out, 1);
  return gpu::unpatchify(s, tokens, grid, patch, c.out_channels, gpu::PatchOrder::PatchMajor);
}

}  // namespace lattice
