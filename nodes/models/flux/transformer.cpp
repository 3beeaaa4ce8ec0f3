#include "nodes/models/flux/transformer.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/modulate.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/reduce.h"
#include "gpu/ops/unary.h"
#include "nodes/models/chunked_attention.h"

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

uint64_t flux_activation_bytes(const FluxConfig& c, int64_t batch, int64_t image_tokens, int64_t text_tokens,
                               int blocks_in_flight) {
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
  const uint64_t blocks = static_cast<uint64_t>(std::max(1, blocks_in_flight)) * block;
  // Each block's joint attention may add its scratch (gpu/ops/attention.h).
  const uint64_t attention = static_cast<uint64_t>(std::max(1, blocks_in_flight)) *
                             gpu::attention_scratch_bytes(static_cast<int64_t>(L), static_cast<int64_t>(L), c.attention_head_dim);
  return 4 * B * (blocks + 5 * L * C + inputs + 64 * C) + 8 * L * static_cast<uint64_t>(c.attention_head_dim) + attention;
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

namespace {

/// The joint sequence of `text` then `image` tokens cut into spans of at most `rows` rows.
template <typename Span>
std::vector<Span> joint_spans(int64_t text, int64_t image, int64_t rows) {
  std::vector<Span> spans;
  for (int64_t r = 0; r < text + image; r += rows) {
    const int64_t end = std::min(r + rows, text + image);
    spans.push_back({r, std::clamp(text, r, end), end});
  }
  return spans;
}

/// Calls write(src, dst) with dst a row range of a larger [B, L, C] tensor and src contiguous [B, l, C]: at
/// once for B = 1, else per batch entry, whose rows are contiguous (what matmul_into and rms_norm_into need).
void into_rows(const Tensor& src, const Tensor& dst, const std::function<void(const Tensor&, const Tensor&)>& write) {
  if (dst.dim(0) == 1) return write(src, dst);
  for (int64_t i = 0; i < dst.dim(0); ++i) write(gpu::narrow(src, 0, i, 1), gpu::narrow(dst, 0, i, 1));
}

}  // namespace

void FluxTransformer::double_block(gpu::CommandStream& s, const DoubleBlock& b, const std::vector<Span>& spans,
                                   std::vector<Tensor>& txt, std::vector<Tensor>& img, const Tensor& temb_act,
                                   const Tensor& cos, const Tensor& sin) {
  const int64_t H = config_.num_attention_heads, D = config_.attention_head_dim, C = config_.inner_dim();
  // adaLN-Zero: (shift, scale, gate, shift_mlp, scale_mlp, gate_mlp) for each stream. emb: [B, 6*C]
  const Tensor emb = b.norm1(s, temb_act), cemb = b.norm1_context(s, temb_act);
  struct Stream {
    const Linear &q, &k, &v, &out, &ff1, &ff2;
    const Tensor &norm_q, &norm_k, &emb;
    std::vector<Tensor>& x;
  };
  const Stream streams[2] = {
      {b.add_q, b.add_k, b.add_v, b.to_add_out, b.ff_context1, b.ff_context2, b.norm_added_q, b.norm_added_k, cemb, txt},
      {b.to_q, b.to_k, b.to_v, b.to_out, b.ff1, b.ff2, b.norm_q, b.norm_k, emb, img}};
  // Rows of stream p within span j's joint chunk.
  auto part = [&](size_t j, int p) {
    const Span& sp = spans[j];
    return p == 0 ? std::pair{int64_t{0}, sp.split - sp.begin} : std::pair{sp.split - sp.begin, sp.end - sp.begin};
  };

  // Joint attention over [text, image], with per-head RMSNorm on Q and K (each stream its own weights) and
  // RoPE on both: each stream's projections are written into its rows of the joint q, k, v chunks.
  auto heads_norm_into = [&](const Tensor& t, const Tensor& w, const Tensor& dst) {
    into_rows(t, dst, [&](const Tensor& src, const Tensor& out) {
      const int64_t B = src.dim(0), l = src.dim(1);
      gpu::rms_norm_into(s, src.reshape({B, l, H, D}), 1e-6f, w, out.reshape({B, l, H, D}));
    });
  };
  std::vector<Tensor> q, k, v;
  for (size_t j = 0; j < spans.size(); ++j) {
    const int64_t B = temb_act.dim(0), l = spans[j].end - spans[j].begin;
    const Tensor qj = Tensor::empty(ctx_, {B, l, C}, gpu::DType::F32), kj = Tensor::empty(ctx_, {B, l, C}, gpu::DType::F32);
    const Tensor vj = Tensor::empty(ctx_, {B, l, C}, gpu::DType::F32);
    for (int p = 0; p < 2; ++p) {
      const Stream& st = streams[p];
      const Tensor& x = st.x[j];
      if (!x.defined()) continue;
      const auto [r0, r1] = part(j, p);
      const Tensor n = gpu::norm_modulate(s, x, gpu::RowNorm::Layer, 1e-6f, chunk(st.emb, 6, 0), chunk(st.emb, 6, 1));
      heads_norm_into(st.q(s, n), st.norm_q, rows(qj, r0, r1));
      heads_norm_into(st.k(s, n), st.norm_k, rows(kj, r0, r1));
      into_rows(n, rows(vj, r0, r1), [&](const Tensor& src, const Tensor& out) { st.v.into(s, src, out); });
    }
    const Tensor cj = gpu::narrow(cos, 0, spans[j].begin, l), sj = gpu::narrow(sin, 0, spans[j].begin, l);
    q.push_back(rope_interleaved(s, qj, cj, sj, H));
    k.push_back(rope_interleaved(s, kj, cj, sj, H));
    v.push_back(vj);
  }
  gpu::AttentionOptions o;
  o.scale = 1.0f / std::sqrt(static_cast<float>(D));
  const std::vector<Tensor> attn = chunked_attention(s, q, k, v, H, o);

  for (size_t j = 0; j < spans.size(); ++j)
    for (int p = 0; p < 2; ++p) {
      const Stream& st = streams[p];
      Tensor& x = st.x[j];
      if (!x.defined()) continue;
      const auto [r0, r1] = part(j, p);
      x = gated_add(s, x, chunk(st.emb, 6, 2), st.out(s, lattice::contiguous(s, rows(attn[j], r0, r1))));
      const Tensor n2 = gpu::norm_modulate(s, x, gpu::RowNorm::Layer, 1e-6f, chunk(st.emb, 6, 3), chunk(st.emb, 6, 4));
      // The MLPs run in row chunks where their 4C-wide hidden layer would not fit one device buffer.
      x = gated_add(s, x, chunk(st.emb, 6, 5), map_token_chunks(s, n2, st.ff1.out_features(), [&](const Tensor& t, int64_t) {
                      return st.ff2(s, st.ff1(s, t, gpu::UnaryOp::GeluTanh));
                    }));
    }
}

void FluxTransformer::single_block(gpu::CommandStream& s, const SingleBlock& b, const std::vector<Span>& spans,
                                   std::vector<Tensor>& h, const Tensor& temb_act, const Tensor& cos, const Tensor& sin) {
  const int64_t H = config_.num_attention_heads, D = config_.attention_head_dim;
  // (shift, scale, gate); h + gate * proj_out([attn(nh), gelu_tanh(proj_mlp(nh))])
  const Tensor emb = b.norm(s, temb_act);
  auto heads_norm = [&](const Tensor& t, const Tensor& w) {
    const auto shape = t.shape();
    return gpu::rms_norm(s, t.reshape({shape[0], shape[1], H, D}), 1e-6f, w).reshape(shape);
  };
  std::vector<Tensor> nh, q, k, v;
  for (size_t j = 0; j < spans.size(); ++j) {
    const int64_t l = spans[j].end - spans[j].begin;
    const Tensor cj = gpu::narrow(cos, 0, spans[j].begin, l), sj = gpu::narrow(sin, 0, spans[j].begin, l);
    nh.push_back(gpu::norm_modulate(s, h[j], gpu::RowNorm::Layer, 1e-6f, chunk(emb, 3, 0), chunk(emb, 3, 1)));
    q.push_back(rope_interleaved(s, heads_norm(b.to_q(s, nh[j]), b.norm_q), cj, sj, H));
    k.push_back(rope_interleaved(s, heads_norm(b.to_k(s, nh[j]), b.norm_k), cj, sj, H));
    v.push_back(b.to_v(s, nh[j]));
  }
  gpu::AttentionOptions o;
  o.scale = 1.0f / std::sqrt(static_cast<float>(D));
  const std::vector<Tensor> attn = chunked_attention(s, q, k, v, H, o);
  // proj_out([attn, mlp]) row by row: in chunks where the (C + mlp)-wide concatenation would not fit a buffer.
  // The MLP's linear writes its activated output straight into the right part of the concatenation.
  const int64_t C = config_.inner_dim(), M = b.proj_mlp.out_features();
  for (size_t j = 0; j < spans.size(); ++j)
    h[j] = gated_add(s, h[j], chunk(emb, 3, 2), map_token_chunks(s, nh[j], C + M, [&](const Tensor& t, int64_t first) {
                       const Tensor cat = Tensor::empty(ctx_, {t.dim(0), t.dim(1), C + M}, gpu::DType::F32);
                       gpu::copy_into(s, rows(attn[j], first, first + t.dim(1)), gpu::narrow(cat, -1, 0, C));
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

  // Before anything is recorded, so that what is in use is the weights and inputs alone. With every block
  // resident and room for a second block's temporaries, the device runs one block while the next is
  // recorded (BlockStreamer::plan_forward decides).
  blocks_->plan_forward(flux_activation_bytes(config_, B, Si, St), "FLUX transformer", flux_activation_bytes(config_, B, Si, St, 2));

  // temb = t_emb + guidance_emb + text_emb(pooled); every modulation linear sees silu(temb).
  Tensor temb = embed_time(s, timestep_embedder_, timestep, B);
  if (config_.guidance_embeds) {
    if (static_cast<int64_t>(guidance.size()) != B) throw_eval("FLUX-dev transformer: one guidance value per batch entry");
    temb = gpu::add(s, temb, embed_time(s, guidance_embedder_, guidance, B));
  }
  temb = gpu::add(s, temb, text_embedder_.l2(s, gpu::silu(s, text_embedder_.l1(s, pooled))));
  const Tensor temb_act = gpu::silu(s, temb);

  // The streams as spans of the joint sequence that each fit a buffer: x (image rows) and ctx (text rows).
  const std::vector<Span> spans = joint_spans<Span>(St, Si, rows_per_buffer(ctx_, B, config_.inner_dim()));
  const size_t n = spans.size();
  std::vector<Tensor> x(n), ctx(n);
  for (size_t j = 0; j < n; ++j)
    if (spans[j].end > spans[j].split)
      x[j] = x_embedder_(s, gpu::contiguous(s, gpu::narrow(hidden, 1, spans[j].split - St, spans[j].end - spans[j].split)));
  const std::vector<Tensor> x_in = x;
  bool skip = false;
  if (cache && cache->threshold > 0 && config_.num_layers > 0) {
    const Tensor emb0 = Linear::load(blocks_->acquire(s, 0), "transformer_blocks.0.norm1.linear")(s, temb_act);
    std::vector<Tensor> mod;
    for (const Tensor& xj : x)
      if (xj.defined()) mod.push_back(gpu::norm_modulate(s, xj, gpu::RowNorm::Layer, 1e-6f, chunk(emb0, 6, 0), chunk(emb0, 6, 1)));
    bool comparable = !cache->previous.empty() && cache->residual.size() == mod.size() && cache->previous.size() == mod.size();
    for (size_t j = 0; comparable && j < mod.size(); ++j) comparable = mod[j].shape() == cache->previous[j].shape();
    if (comparable) {
      // The relative L1 change on the device: per chunk sum|m - previous| and sum|previous| (rows, then the
      // rows' sums), gathered into one small tensor; only those 2 floats a chunk come back to the host.
      auto l1 = [&](const Tensor& t) {
        const int64_t C = t.dim(-1);
        return gpu::sum(s, gpu::l1(s, t.reshape({t.numel() / C, C}), 1), 0);
      };
      std::vector<Tensor> sums;
      for (size_t j = 0; j < mod.size(); ++j) {
        sums.push_back(l1(gpu::sub(s, mod[j], cache->previous[j])));
        sums.push_back(l1(cache->previous[j]));
      }
      const Tensor gathered = gpu::concat(s, sums, 0);
      s.finish();
      const std::vector<float> v = gathered.to_floats();
      double num = 0, den = 0;
      for (size_t j = 0; j < v.size(); j += 2) {
        num += v[j];
        den += v[j + 1];
      }
      cache->accumulated += den > 0 ? num / den : 1e30;
      skip = cache->accumulated < cache->threshold;
    }
    cache->previous = std::move(mod);
  }
  if (skip) {
    for (size_t j = 0, r = 0; j < n; ++j)
      if (x[j].defined()) x[j] = gpu::add(s, x[j], cache->residual[r++]);
    ++cache->skipped;
  } else {
    for (size_t j = 0; j < n; ++j)
      if (spans[j].split > spans[j].begin)
        ctx[j] = context_embedder_(
            s, gpu::contiguous(s, gpu::narrow(context, 1, spans[j].begin, spans[j].split - spans[j].begin)));
    // One submission per block; BlockStreamer::acquire waits for the previous one (or, with every block
    // resident and room for it, the one before), so that temporaries and streamed weights stay within
    // activation_bytes() and the plan.
    const int nd = config_.num_layers;
    for (int i = 0; i < nd; ++i) {
      double_block(s, load_double(blocks_->acquire(s, i), i), spans, ctx, x, temb_act, rope_cos, rope_sin);
      blocks_->release(s, i);
    }
    // The single blocks see each span whole: text rows then image rows (a copy only where a span has both).
    std::vector<Tensor> h(n);
    for (size_t j = 0; j < n; ++j)
      h[j] = !ctx[j].defined() ? x[j] : !x[j].defined() ? ctx[j] : concat(s, ctx[j], x[j], 1);
    ctx.clear();
    for (int i = 0; i < config_.num_single_layers; ++i) {
      single_block(s, load_single(blocks_->acquire(s, nd + i), i), spans, h, temb_act, rope_cos, rope_sin);
      blocks_->release(s, nd + i);
    }
    for (size_t j = 0; j < n; ++j)
      x[j] = spans[j].end > spans[j].split
                 ? lattice::contiguous(s, rows(h[j], spans[j].split - spans[j].begin, spans[j].end - spans[j].begin))
                 : Tensor{};
    if (cache && cache->threshold > 0) {
      cache->residual.clear();
      for (size_t j = 0; j < n; ++j)
        if (x[j].defined()) cache->residual.push_back(gpu::sub(s, x[j], x_in[j]));
      cache->accumulated = 0;
      ++cache->computed;
    }
  }
  if (cache) cache->last_skipped = skip;
  // AdaLayerNormContinuous: (scale, shift), scale first. The output is as narrow as the latents: one tensor.
  const Tensor emb = norm_out_(s, temb_act);
  std::vector<Tensor> out;
  for (const Tensor& xj : x)
    if (xj.defined()) out.push_back(proj_out_(s, gpu::norm_modulate(s, xj, gpu::RowNorm::Layer, 1e-6f, chunk(emb, 2, 1), chunk(emb, 2, 0))));
  return out.size() == 1 ? out[0] : gpu::concat(s, out, 1);
}

}  // namespace lattice
