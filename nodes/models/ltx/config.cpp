#include "nodes/models/ltx/config.h"

#include "core/error.h"

namespace lattice {

namespace {

std::string not_ltx(const WeightSource& w, const std::string& why) {
  return w.origin() + ": not an LTX-Video transformer checkpoint (" + why + ")";
}

}  // namespace

int ltx_weight_dim(const WeightSource& w, const std::string& name, size_t axis) {
  const TensorInfo& t = w.info(name);
  if (t.shape.size() <= axis)
    throw_invalid(w.origin() + ": tensor '" + name + "' has rank " + std::to_string(t.shape.size()) + ", expected more than " +
                  std::to_string(axis));
  return static_cast<int>(t.shape[axis]);
}

uint64_t LtxTransformerConfig::parameter_count() const {
  const uint64_t d = static_cast<uint64_t>(inner_dim()), f = static_cast<uint64_t>(ff_hidden());
  const uint64_t x = static_cast<uint64_t>(cross_attention_dim);
  uint64_t n = (static_cast<uint64_t>(in_channels) + 1) * d;                   // proj_in
  n += (256 + 1) * d + (d + 1) * d + (d + 1) * 6 * d;                           // time_embed
  n += (static_cast<uint64_t>(caption_channels) + 1) * d + (d + 1) * d;          // caption_projection
  const uint64_t attn1 = 4 * (d + 1) * d + 2 * d;
  const uint64_t attn2 = 2 * (d + 1) * d + 2 * (x + 1) * d + 2 * d;
  const uint64_t block = attn1 + attn2 + (d + 1) * f + (f + 1) * d + 6 * d;
  n += static_cast<uint64_t>(num_layers) * block;
  n += 2 * d + (d + 1) * static_cast<uint64_t>(out_channels);                    // scale_shift_table, proj_out
  return n;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> ltx_checkpoint_shapes(const LtxTransformerConfig& c) {
  const int64_t d = c.inner_dim(), f = c.ff_hidden(), x = c.cross_attention_dim;
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  auto linear = [&](const std::string& p, int64_t o, int64_t i) {
    out.push_back({p + ".weight", {o, i}});
    out.push_back({p + ".bias", {o}});
  };
  linear("proj_in", d, c.in_channels);
  linear("time_embed.emb.timestep_embedder.linear_1", d, 256);
  linear("time_embed.emb.timestep_embedder.linear_2", d, d);
  linear("time_embed.linear", 6 * d, d);
  linear("caption_projection.linear_1", d, c.caption_channels);
  linear("caption_projection.linear_2", d, d);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i) + ".";
    for (const char* a : {"attn1", "attn2"}) {
      const int64_t kv = std::string(a) == "attn1" ? d : x;
      linear(p + a + ".to_q", d, d);
      linear(p + a + ".to_k", d, kv);
      linear(p + a + ".to_v", d, kv);
      linear(p + a + ".to_out.0", d, d);
      out.push_back({p + a + ".norm_q.weight", {d}});
      out.push_back({p + a + ".norm_k.weight", {d}});
    }
    linear(p + "ff.net.0.proj", f, d);
    linear(p + "ff.net.2", d, f);
    out.push_back({p + "scale_shift_table", {6, d}});
  }
  out.push_back({"scale_shift_table", {2, d}});
  linear("proj_out", c.out_channels, d);
  return out;
}

void LtxTransformerConfig::validate() const {
  if (num_attention_heads <= 0 || attention_head_dim <= 0 || in_channels <= 0 || out_channels <= 0 || num_layers < 0 ||
      cross_attention_dim <= 0 || caption_channels <= 0)
    throw_invalid("LTX-Video config: sizes must be positive");
  if (inner_dim() % 2) throw_invalid("LTX-Video config: the inner width " + std::to_string(inner_dim()) + " must be even for RoPE");
  if (inner_dim() < 6) throw_invalid("LTX-Video config: the inner width must be at least 6 (three RoPE axes)");
  if (patch_size != 1 || patch_size_t != 1)
    throw_invalid("LTX-Video config: only patch_size 1 and patch_size_t 1 are supported (every released model)");
  if (cross_attention_dim != inner_dim())
    throw_invalid("LTX-Video config: cross_attention_dim " + std::to_string(cross_attention_dim) +
                  " must equal the inner width " + std::to_string(inner_dim()) + " (the caption projection's output)");
}

LtxTransformerConfig ltx_transformer_config_from_json(const nlohmann::json& j) {
  LtxTransformerConfig c;
  try {
    c.in_channels = j.value("in_channels", c.in_channels);
    c.out_channels = j.contains("out_channels") && !j["out_channels"].is_null() ? j["out_channels"].get<int>() : c.in_channels;
    c.patch_size = j.value("patch_size", c.patch_size);
    c.patch_size_t = j.value("patch_size_t", c.patch_size_t);
    c.num_attention_heads = j.value("num_attention_heads", c.num_attention_heads);
    c.attention_head_dim = j.value("attention_head_dim", c.attention_head_dim);
    c.cross_attention_dim = j.value("cross_attention_dim", c.cross_attention_dim);
    c.num_layers = j.value("num_layers", c.num_layers);
    c.caption_channels = j.value("caption_channels", c.caption_channels);
    c.norm_eps = j.value("norm_eps", c.norm_eps);
    if (j.value("qk_norm", std::string("rms_norm_across_heads")) != "rms_norm_across_heads")
      throw_invalid("LTX-Video config: only qk_norm 'rms_norm_across_heads' is supported");
    if (j.value("activation_fn", std::string("gelu-approximate")) != "gelu-approximate")
      throw_invalid("LTX-Video config: only activation_fn 'gelu-approximate' is supported");
    if (j.value("norm_elementwise_affine", false))
      throw_invalid("LTX-Video config: norm_elementwise_affine true is not supported (no released model uses it)");
  } catch (const nlohmann::json::exception& e) {
    throw_invalid(std::string("LTX-Video config: ") + e.what());
  }
  c.validate();
  return c;
}

std::string ltx_original_name(const std::string& name) {
  for (const auto& [diffusers, original] : {std::pair{"proj_in.", "patchify_proj."}, std::pair{"time_embed.", "adaln_single."}})
    if (name.rfind(diffusers, 0) == 0) return original + name.substr(std::char_traits<char>::length(diffusers));
  for (const auto& [diffusers, original] : {std::pair{".norm_q.", ".q_norm."}, std::pair{".norm_k.", ".k_norm."}})
    if (const size_t at = name.find(diffusers); at != std::string::npos)
      return name.substr(0, at) + original + name.substr(at + std::char_traits<char>::length(diffusers));
  return {};
}

bool normalise_ltx_checkpoint(WeightSource& w) {
  bool changed = w.strip_prefix("model.diffusion_model.") > 0;
  if (!w.has("patchify_proj.weight")) return changed;
  // Lightricks' names differ from diffusers' by these module renames only.
  const std::pair<std::string, std::string> renames[] = {
      {"patchify_proj", "proj_in"}, {"adaln_single", "time_embed"}, {"q_norm", "norm_q"}, {"k_norm", "norm_k"}};
  for (const std::string& name : w.names()) {
    std::string to = name;
    for (const auto& [from, into] : renames)
      for (size_t at = to.find(from); at != std::string::npos; at = to.find(from, at + into.size()))
        to.replace(at, from.size(), into);
    if (to != name) w.rename(name, to);
  }
  return true;
}

LtxTransformerConfig detect_ltx_transformer_config(const WeightSource& w) {
  if (!w.has("proj_in.weight") || !w.has("time_embed.linear.weight") || !w.has("caption_projection.linear_1.weight"))
    throw_invalid(not_ltx(w, "no proj_in, time_embed.linear or caption_projection weights"));
  if (!w.has("scale_shift_table"))
    throw_invalid(not_ltx(w, "no top-level scale_shift_table (a newer diffusers layout with norm_out.linear is not supported)"));
  LtxTransformerConfig c;
  c.num_layers = w.count_blocks("transformer_blocks.");
  if (c.num_layers == 0) throw_invalid(not_ltx(w, "no transformer_blocks"));
  if (!w.has("transformer_blocks.0.attn1.norm_q.weight") || !w.has("transformer_blocks.0.attn2.to_k.weight"))
    throw_invalid(not_ltx(w, "transformer_blocks.0 has no attn1.norm_q or attn2.to_k"));
  const int inner = ltx_weight_dim(w, "proj_in.weight", 0);
  c.in_channels = ltx_weight_dim(w, "proj_in.weight", 1);
  c.out_channels = ltx_weight_dim(w, "proj_out.weight", 0);
  c.caption_channels = ltx_weight_dim(w, "caption_projection.linear_1.weight", 1);
  c.cross_attention_dim = ltx_weight_dim(w, "transformer_blocks.0.attn2.to_k.weight", 1);
  c.ff_inner = ltx_weight_dim(w, "transformer_blocks.0.ff.net.0.proj.weight", 0);
  if (ltx_weight_dim(w, "time_embed.linear.weight", 0) != 6 * inner)
    throw_invalid(not_ltx(w, "time_embed.linear does not produce 6 x " + std::to_string(inner) + " values"));
  if (w.config() && w.config()->contains("attention_head_dim")) {
    const LtxTransformerConfig j = ltx_transformer_config_from_json(*w.config());
    c.attention_head_dim = j.attention_head_dim;
    c.num_attention_heads = j.num_attention_heads;
    c.norm_eps = j.norm_eps;
  } else if (inner == 2048 || inner == 4096) {
    c.attention_head_dim = inner / 32;
    c.num_attention_heads = 32;
  } else {
    throw_invalid(w.origin() + ": LTX-Video inner width " + std::to_string(inner) +
                  " is not a released model's; a config.json with attention_head_dim is needed beside the weights");
  }
  if (c.inner_dim() != inner)
    throw_invalid(w.origin() + ": config.json's heads x head dim (" + std::to_string(c.inner_dim()) +
                  ") does not match the weights' inner width " + std::to_string(inner));
  c.validate();
  return c;
}

}  // namespace lattice
