#include "nodes/models/flux/checkpoint.h"

#include <algorithm>

#include "core/error.h"

namespace lattice {

namespace {

// Renames `from`.weight / `from`.bias to `to`.weight / `to`.bias (bias only when present).
void linear(WeightSource& w, const std::string& from, const std::string& to) {
  w.rename(from + ".weight", to + ".weight");
  if (w.has(from + ".bias")) w.rename(from + ".bias", to + ".bias");
}

// Splits a fused linear along its output rows into consecutive parts.
void split(WeightSource& w, const std::string& from, const std::vector<std::pair<std::string, int64_t>>& parts) {
  int64_t total = 0;
  for (const auto& [n, rows] : parts) total += rows;
  if (w.info(from + ".weight").shape[0] != total)
    throw_invalid(w.origin() + ": '" + from + ".weight' has " + std::to_string(w.info(from + ".weight").shape[0]) +
                  " rows, expected " + std::to_string(total));
  int64_t at = 0;
  for (const auto& [to, rows] : parts) {
    w.add_rows(to + ".weight", from + ".weight", at, at + rows);
    if (w.has(from + ".bias")) w.add_rows(to + ".bias", from + ".bias", at, at + rows);
    at += rows;
  }
  w.remove(from + ".weight");
  w.remove(from + ".bias");
}

}  // namespace

void convert_bfl_flux(WeightSource& w, const FluxConfig& c) {
  const int64_t d = c.inner_dim(), m = c.mlp_hidden();
  linear(w, "img_in", "x_embedder");
  linear(w, "txt_in", "context_embedder");
  linear(w, "time_in.in_layer", "time_text_embed.timestep_embedder.linear_1");
  linear(w, "time_in.out_layer", "time_text_embed.timestep_embedder.linear_2");
  linear(w, "vector_in.in_layer", "time_text_embed.text_embedder.linear_1");
  linear(w, "vector_in.out_layer", "time_text_embed.text_embedder.linear_2");
  if (c.guidance_embeds) {
    linear(w, "guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1");
    linear(w, "guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2");
  }
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string b = "double_blocks." + std::to_string(i) + ".", t = "transformer_blocks." + std::to_string(i) + ".";
    linear(w, b + "img_mod.lin", t + "norm1.linear");
    linear(w, b + "txt_mod.lin", t + "norm1_context.linear");
    split(w, b + "img_attn.qkv", {{t + "attn.to_q", d}, {t + "attn.to_k", d}, {t + "attn.to_v", d}});
    split(w, b + "txt_attn.qkv", {{t + "attn.add_q_proj", d}, {t + "attn.add_k_proj", d}, {t + "attn.add_v_proj", d}});
    w.rename(b + "img_attn.norm.query_norm.scale", t + "attn.norm_q.weight");
    w.rename(b + "img_attn.norm.key_norm.scale", t + "attn.norm_k.weight");
    w.rename(b + "txt_attn.norm.query_norm.scale", t + "attn.norm_added_q.weight");
    w.rename(b + "txt_attn.norm.key_norm.scale", t + "attn.norm_added_k.weight");
    linear(w, b + "img_attn.proj", t + "attn.to_out.0");
    linear(w, b + "txt_attn.proj", t + "attn.to_add_out");
    linear(w, b + "img_mlp.0", t + "ff.net.0.proj");
    linear(w, b + "img_mlp.2", t + "ff.net.2");
    linear(w, b + "txt_mlp.0", t + "ff_context.net.0.proj");
    linear(w, b + "txt_mlp.2", t + "ff_context.net.2");
  }
  for (int i = 0; i < c.num_single_layers; ++i) {
    const std::string b = "single_blocks." + std::to_string(i) + ".", t = "single_transformer_blocks." + std::to_string(i) + ".";
    split(w, b + "linear1", {{t + "attn.to_q", d}, {t + "attn.to_k", d}, {t + "attn.to_v", d}, {t + "proj_mlp", m}});
    linear(w, b + "linear2", t + "proj_out");
    w.rename(b + "norm.query_norm.scale", t + "attn.norm_q.weight");
    w.rename(b + "norm.key_norm.scale", t + "attn.norm_k.weight");
    linear(w, b + "modulation.lin", t + "norm.linear");
  }
  linear(w, "final_layer.linear", "proj_out");
  // (shift, scale) -> (scale, shift): the two halves swap places, so this tensor is rebuilt on the host.
  for (const char* part : {"weight", "bias"}) {
    const std::string from = std::string("final_layer.adaLN_modulation.1.") + part;
    if (!w.has(from)) continue;
    HostTensor t = w.load(from);
    const size_t half = t.data.size() / 2;
    std::rotate(t.data.begin(), t.data.begin() + static_cast<std::ptrdiff_t>(half), t.data.end());
    w.remove(from);
    w.add_owned(std::string("norm_out.linear.") + part, std::move(t));
  }
}

}  // namespace lattice
