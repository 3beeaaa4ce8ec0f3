#include "nodes/models/flux/transformer.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/unary.h"

namespace lattice {

using gpu::Tensor;

std::vector<float> flux_image_ids(int64_t latent_h, int64_t latent_w) {
  std::vector<float> ids;
  for (int64_t r = 0; r < latent_h / 2; ++r)
    for (int64_t c = 0; c < latent_w / 2; ++c) {
      ids.push_back(0);
      ids.push_back(static_cast<float>(r));
      ids.push_back(static_cast<float>(c));
    }
  return ids;
}

std::vector<std::string> flux_block_prefixes(const FluxConfig& c) {
  std::vector<std::string> p;
  for (int i = 0; i < c.num_layers; ++i) p.push_back("transformer_blocks." + std::to_string(i) + ".");
  for (int i = 0; i < c.num_single_layers; ++i) p.push_back("single_transformer_blocks." + std::to_string(i) + ".");
  return p;
}

uint64_t flux_activation_bytes(const FluxConfig& c, int64_t batch, int64_t image_tokens, int64_t text_tokens) {
  // f32 elements alive while one block runs (every temporary of a block lives until its submission is
  // done), counted from double_block() and single_block() below, with the copies map_token_chunks adds:
  // double 22·L·C + 2·L·M, single 16·L·C + 3·L·M; between blocks x, ctx, their concatenation, the step
  // cache's input and residual (5·L·C); the forward's inputs (latents, text, RoPE tables) and the small
  // [B, k·C] embeddings.
  const uint64_t L = static_cast<uint64_t>(image_tokens + text_tokens), C = static_cast<uint64_t>(c.inner_dim());
  const uint64_t M = static_cast<uint64_t>(c.mlp_hidden()), B = static_cast<uint64_t>(batch);
  const uint64_t block = std::max(22 * L * C + 2 * L * M, 16 * L * C + 3 * L * M);
  const uint64_t inputs = static_cast<uint64_t>(image_tokens) * static_cast<uint64_t>(c.in_channels + c.out_channels) +
                          static_cast<uint64_t>(text_tokens) * static_cast<uint64_t>(c.joint_attention_dim);
  return 4 * B * (block + 5 * L * C + inputs + 64 * C) + 8 * L * static_cast<uint64_t>(c.attention_head_dim);
}

FluxTransformer::FluxTransformer(FluxConfig config, DeviceWeights& w) : config_(config), ctx_(w.context()) {
  config_.validate();
  x_embedder_ = Linear::load(w, "x_embedder");
  context_embedder_ = Linear::load(w, "context_embedder");
  timestep_embedder_ = {Linear::load(w, "time_text_embed.timestep_embedder.linear_1"),
                        Linear::load(w, "time_text_embed.timestep_embedder.linear_2")};
  if (config_.guidance_embeds)
    guidance_embedder_ = {Linear::load(w, "time_text_embed.guidance_embedder.linear_1"),
                          Linear::load(w, "time_text_embed.guidance_embedder.linear_2")};
  text_embedder_ = {Linear::load(w, "time_text_embed.text_embedder.linear_1"),
                    Linear::load(w, "time_text_embed.text_embedder.linear_2")};
  norm_out_ = Linear::load(w, "norm_out.linear");
  proj_out_ = Linear::load(w, "proj_out");
  blocks_ = std::make_unique<BlockStreamer>(w, flux_block_prefixes(config_));
}

FluxTransformer::DoubleBlock FluxTransformer::load_double(DeviceWeights& w, int i) const {
  const std::string p = "transformer_blocks." + std::to_string(i) + ".";
  DoubleBlock b;
  b.norm1 = Linear::load(w, p + "norm1.linear");
  b.norm1_context = Linear::load(w, p + "norm1_context.linear");
  b.to_q = Linear::load(w, p + "attn.to_q");
  b.to_k = Linear::load(w, p + "attn.to_k");
  b.to_v = Linear::load(w, p + "attn.to_v");
  b.add_q = Linear::load(w, p + "attn.add_q_proj");
  b.add_k = Linear::load(w, p + "attn.add_k_proj");
  b.add_v = Linear::load(w, p + "attn.add_v_proj");
  b.norm_q = w.vector(p + "attn.norm_q.weight");
  b.norm_k = w.vector(p + "attn.norm_k.weight");
  b.norm_added_q = w.vector(p + "attn.norm_added_q.weight");
  b.norm_added_k = w.vector(p + "attn.norm_added_k.weight");
  b.to_out = Linear::load(w, p + "attn.to_out.0");
  b.to_add_out = Linear::load(w, p + "attn.to_add_out");
  b.ff1 = Linear::load(w, p + "ff.net.0.proj");
  b.ff2 = Linear::load(w, p + "ff.net.2");
  b.ff_context1 = Linear::load(w, p + "ff_context.net.0.proj");
  b.ff_context2 = Linear::load(w, p + "ff_context.net.2");
  return b;
}

FluxTransformer::SingleBlock FluxTransformer::load_single(DeviceWeights& w, int i) const {
  const std::string p = "single_transformer_blocks." + std::to_string(i) + ".";
  SingleBlock b;
  b.norm = Linear::load(w, p + "norm.linear");
  b.to_q = Linear::load(w, p + "attn.to_q");
  b.to_k = Linear::load(w, p + "attn.to_k");
  b.to_v = Linear::load(w, p + "attn.to_v");
  b.norm_q = w.vector(p + "attn.norm_q.weight");
  b.norm_k = w.vector(p + "attn.norm_k.weight");
  b.proj_mlp = Linear::load(w, p + "proj_mlp");
  b.proj_out = Linear::load(w, p + "proj_out");
  return b;
}

Tensor FluxTransformer::embed_time(gpu::CommandStream& s, const Mlp& m, const std::vector<float>& t, int64_t batch) {
  // The model multiplies by 1000 before the sinusoidal projection (256 channels, cos first).
  std::vector<float> scaled(t.size());
  for (size_t i = 0; i < t.size(); ++i) scaled[i] = t[i] * 1000.0f;
  const auto proj = timestep_embedding(scaled, 256, true, 0.0f);
  Tensor e = Tensor::from_floats(ctx_, proj, {batch, 256});
  return m.l2(s, gpu::silu(s, m.l1(s, e)));
}

void FluxTransformer::double_block(gpu::CommandStream& s, const DoubleBlock& b, Tensor& x, Tensor& ctx,
                                   const Tensor& temb_act, const Tensor& cos, const Tensor& sin) {
  const int64_t H = config_.num_attention_heads, D = config_.attention_head_dim;
  const int64_t St = ctx.dim(1);
  // adaLN-Zero: (shift, scale, gate, shift_mlp, scale_mlp, gate_mlp) for each stream. emb: [B, 6*C]
  const Tensor emb = b.norm1(s, temb_act), cemb = b.norm1_context(s, temb_act);
  const Tensor nx = modulate(s, gpu::layer_norm(s, x, 1e-6f), chunk(emb, 6, 0), chunk(emb, 6, 1));
  const Tensor nc = modulate(s, gpu::layer_norm(s, ctx, 1e-6f), chunk(cemb, 6, 0), chunk(cemb, 6, 1));

  // Joint attention over [text, image], with per-head RMSNorm on Q and K and RoPE on both.
  auto heads_norm = [&](const Tensor& t, const Tensor& w) {
    const auto shape = t.shape();
    return gpu::rms_norm(s, t.reshape({shape[0], shape[1], H, D}), 1e-6f, w).reshape(shape);
  };
  const Tensor q = concat(s, heads_norm(b.add_q(s, nc), b.norm_added_q), heads_norm(b.to_q(s, nx), b.norm_q), 1);
  const Tensor k = concat(s, heads_norm(b.add_k(s, nc), b.norm_added_k), heads_norm(b.to_k(s, nx), b.norm_k), 1);
  const Tensor v = concat(s, b.add_v(s, nc), b.to_v(s, nx), 1);
  const Tensor o = attention(s, rope_interleaved(s, q, cos, sin, H), rope_interleaved(s, k, cos, sin, H), v, H,
                             1.0f / std::sqrt(static_cast<float>(D)));
  const Tensor ctx_attn = b.to_add_out(s, lattice::contiguous(s, rows(o, 0, St)));
  const Tensor img_attn = b.to_out(s, lattice::contiguous(s, rows(o, St, o.dim(1))));

  x = gated_add(s, x, chunk(emb, 6, 2), img_attn);
  const Tensor nx2 = modulate(s, gpu::layer_norm(s, x, 1e-6f), chunk(emb, 6, 3), chunk(emb, 6, 4));
  // The MLPs run in row chunks where their 4C-wide hidden layer would not fit one device buffer.
  const int64_t hidden = b.ff1.out_features();
  x = gated_add(s, x, chunk(emb, 6, 5), map_token_chunks(s, nx2, hidden, [&](const Tensor& t, int64_t) {
                  return b.ff2(s, b.ff1(s, t, gpu::UnaryOp::GeluTanh));
                }));

  ctx = gated_add(s, ctx, chunk(cemb, 6, 2), ctx_attn);
  const Tensor nc2 = modulate(s, gpu::layer_norm(s, ctx, 1e-6f), chunk(cemb, 6, 3), chunk(cemb, 6, 4));
  ctx = gated_add(s, ctx, chunk(cemb, 6, 5), map_token_chunks(s, nc2, b.ff_context1.out_features(), [&](const Tensor& t, int64_t) {
                    return b.ff_context2(s, b.ff_context1(s, t, gpu::UnaryOp::GeluTanh));
                  }));
}

void FluxTransformer::single_block(gpu::CommandStream& s, const SingleBlock& b, Tensor& h, const Tensor& temb_act,
                                   const Tensor& cos, const Tensor& sin) {
  const int64_t H = config_.num_attention_heads, D = config_.attention_head_dim;
  // (shift, scale, gate); h + gate * proj_out([attn(nh), gelu_tanh(proj_mlp(nh))])
  const Tensor emb = b.norm(s, temb_act);
  const Tensor nh = modulate(s, gpu::layer_norm(s, h, 1e-6f), chunk(emb, 3, 0), chunk(emb, 3, 1));
  auto heads_norm = [&](const Tensor& t, const Tensor& w) {
    const auto shape = t.shape();
    return gpu::rms_norm(s, t.reshape({shape[0], shape[1], H, D}), 1e-6f, w).reshape(shape);
  };
  const Tensor q = rope_interleaved(s, heads_norm(b.to_q(s, nh), b.norm_q), cos, sin, H);
  const Tensor k = rope_interleaved(s, heads_norm(b.to_k(s, nh), b.norm_k), cos, sin, H);
  const Tensor attn = attention(s, q, k, b.to_v(s, nh), H, 1.0f / std::sqrt(static_cast<float>(D)));
  // proj_out([attn, mlp]) row by row: in chunks where the (C + mlp)-wide concatenation would not fit a buffer.
  // The MLP's linear writes its activated output straight into the right part of the concatenation.
  const int64_t C = attn.dim(-1), M = b.proj_mlp.out_features();
  h = gated_add(s, h, chunk(emb, 3, 2), map_token_chunks(s, nh, C + M, [&](const Tensor& t, int64_t first) {
                  const Tensor cat = Tensor::empty(ctx_, {t.dim(0), t.dim(1), C + M}, gpu::DType::F32);
                  gpu::copy_into(s, rows(attn, first, first + t.dim(1)), gpu::narrow(cat, -1, 0, C));
                  b.proj_mlp.into(s, t, gpu::narrow(cat, -1, C, M), gpu::UnaryOp::GeluTanh);
                  return b.proj_out(s, cat);
                }));
}

Tensor FluxTransformer::forward(gpu::CommandStream& s, const Tensor& hidden, const Tensor& context, const Tensor& pooled,
                                const std::vector<float>& timestep, const std::vector<float>& guidance,
                                const Tensor& rope_cos, const Tensor& rope_sin, FluxStepCache* cache) {
  const int64_t B = hidden.dim(0), Si = hidden.dim(1), St = context.dim(1);
  if (hidden.rank() != 3 || hidden.dim(2) != config_.in_channels)
    throw_eval("FLUX transformer: hidden states " + hidden.describe() + " should be [B, S, " +
               std::to_string(config_.in_channels) + "]");
  if (context.rank() != 3 || context.dim(0) != B || context.dim(2) != config_.joint_attention_dim)
    throw_eval("FLUX transformer: text embeddings " + context.describe() + " should be [" + std::to_string(B) + ", L, " +
               std::to_string(config_.joint_attention_dim) + "]");
  if (pooled.rank() != 2 || pooled.dim(0) != B || pooled.dim(1) != config_.pooled_projection_dim)
    throw_eval("FLUX transformer: pooled embedding " + pooled.describe() + " should be [" + std::to_string(B) + ", " +
               std::to_string(config_.pooled_projection_dim) + "]");
  if (static_cast<int64_t>(timestep.size()) != B) throw_eval("FLUX transformer: one timestep per batch entry");
  if (rope_cos.dim(0) != Si + St || rope_cos.dim(1) != config_.attention_head_dim)
    throw_eval("FLUX transformer: RoPE table " + rope_cos.describe() + " does not match " + std::to_string(St + Si) + " tokens");

  // Before anything is recorded, so that what is in use is the weights and inputs alone.
  blocks_->plan_forward(flux_activation_bytes(config_, B, Si, St), "FLUX transformer");

  // temb = t_emb + guidance_emb + text_emb(pooled); every modulation linear sees silu(temb).
  Tensor temb = embed_time(s, timestep_embedder_, timestep, B);
  if (config_.guidance_embeds) {
    if (static_cast<int64_t>(guidance.size()) != B) throw_eval("FLUX-dev transformer: one guidance value per batch entry");
    temb = gpu::add(s, temb, embed_time(s, guidance_embedder_, guidance, B));
  }
  temb = gpu::add(s, temb, text_embedder_.l2(s, gpu::silu(s, text_embedder_.l1(s, pooled))));
  const Tensor temb_act = gpu::silu(s, temb);

  Tensor x = x_embedder_(s, hidden);
  const Tensor x_in = x;
  bool skip = false;
  if (cache && cache->threshold > 0 && config_.num_layers > 0) {
    const Tensor emb0 = Linear::load(blocks_->acquire(s, 0), "transformer_blocks.0.norm1.linear")(s, temb_act);
    const Tensor mod = modulate(s, gpu::layer_norm(s, x, 1e-6f), chunk(emb0, 6, 0), chunk(emb0, 6, 1));
    s.finish();
    std::vector<float> m = mod.to_floats();
    if (!cache->previous.empty() && cache->residual.defined() && m.size() == cache->previous.size()) {
      double num = 0, den = 0;
      for (size_t i = 0; i < m.size(); ++i) {
        num += std::fabs(m[i] - cache->previous[i]);
        den += std::fabs(cache->previous[i]);
      }
      cache->accumulated += den > 0 ? num / den : 1e30;
      skip = cache->accumulated < cache->threshold;
    }
    cache->previous = std::move(m);
  }
  if (skip) {
    x = gpu::add(s, x, cache->residual);
    ++cache->skipped;
  } else {
    Tensor ctx = context_embedder_(s, context);
    // One submission per block (BlockStreamer::acquire finishes the previous one), so that temporaries
    // and streamed weights stay within flux_activation_bytes and the plan.
    const int nd = config_.num_layers;
    for (int i = 0; i < nd; ++i) {
      double_block(s, load_double(blocks_->acquire(s, i), i), x, ctx, temb_act, rope_cos, rope_sin);
      blocks_->release(s, i);
    }
    Tensor h = concat(s, ctx, x, 1);
    for (int i = 0; i < config_.num_single_layers; ++i) {
      single_block(s, load_single(blocks_->acquire(s, nd + i), i), h, temb_act, rope_cos, rope_sin);
      blocks_->release(s, nd + i);
    }
    x = lattice::contiguous(s, rows(h, St, St + Si));
    if (cache && cache->threshold > 0) {
      cache->residual = gpu::sub(s, x, x_in);
      cache->accumulated = 0;
      ++cache->computed;
    }
  }
  if (cache) cache->last_skipped = skip;
  // AdaLayerNormContinuous: (scale, shift), scale first.
  const Tensor emb = norm_out_(s, temb_act);
  x = modulate(s, gpu::layer_norm(s, x, 1e-6f), chunk(emb, 2, 1), chunk(emb, 2, 0));
  return proj_out_(s, x);
}

}  // namespace lattice
