#include "nodes/models/wan/config.h"

#include <cstdio>

#include "core/error.h"
#include "nodes/models/text_blocks.h"

namespace lattice {

namespace {

std::string not_wan(const WeightSource& w, const std::string& why) {
  return w.origin() + ": not a Wan 2.1 transformer checkpoint (" + why + ")";
}

int optional_int(const nlohmann::json& j, const char* key) {
  return j.contains(key) && !j[key].is_null() ? j[key].get<int>() : 0;
}

}  // namespace

std::array<int64_t, 3> WanConfig::rope_axes() const {
  const int64_t d = attention_head_dim, hw = 2 * (d / 6);
  return {d - 2 * hw, hw, hw};
}

std::string WanConfig::describe() const {
  // The released sizes by the names Wan-AI gives them (the "1.3B" holds 1.42e9 parameters, the I2V "14B" more
  // than the T2V's 14.3e9); any other by its parameter count.
  const double b = static_cast<double>(parameter_count()) / 1e9;
  char size[32];
  if (inner_dim() == 1536 && num_layers == 30) {
    std::snprintf(size, sizeof size, "1.3B");
  } else if (inner_dim() == 5120 && num_layers == 40) {
    std::snprintf(size, sizeof size, "14B");
  } else {
    std::snprintf(size, sizeof size, b < 10 ? "%.1fB" : "%.0fB", b);
  }
  return std::string("Wan 2.1 ") + (image_to_video() ? "I2V " : "T2V ") + size;
}

uint64_t WanConfig::parameter_count() const {
  const uint64_t d = static_cast<uint64_t>(inner_dim()), f = static_cast<uint64_t>(ffn_dim);
  const uint64_t img = static_cast<uint64_t>(image_dim), added = static_cast<uint64_t>(added_kv_proj_dim);
  uint64_t n = static_cast<uint64_t>(in_channels) * static_cast<uint64_t>(patch_volume()) * d + d;  // patch_embedding
  n += (static_cast<uint64_t>(freq_dim) + 1) * d + (d + 1) * d;                                     // time_embedder
  n += (d + 1) * 6 * d;                                                                              // time_proj
  n += (static_cast<uint64_t>(text_dim) + 1) * d + (d + 1) * d;                                     // text_embedder
  if (img) n += 2 * img + (img + 1) * img + (img + 1) * d + 2 * d;                                   // image_embedder
  uint64_t block = 2 * (4 * (d + 1) * d + 2 * d);           // attn1, attn2 (q, k, v, out, norm_q, norm_k)
  if (added) block += 2 * (added + 1) * d + d;              // add_k_proj, add_v_proj, norm_added_k
  if (cross_attn_norm) block += 2 * d;                      // norm2
  block += (d + 1) * f + (f + 1) * d + 6 * d;               // ffn, scale_shift_table
  n += static_cast<uint64_t>(num_layers) * block;
  n += 2 * d + (d + 1) * static_cast<uint64_t>(out_channels) * static_cast<uint64_t>(patch_volume());  // head
  return n;
}

double WanConfig::forward_flops(int64_t tokens, int64_t text, int64_t image) const {
  const double d = inner_dim(), L = static_cast<double>(tokens), T = static_cast<double>(text), I = static_cast<double>(image);
  double f = 2 * L * in_channels * patch_volume() * d + 2 * T * (text_dim * d + d * d);
  if (image_to_video()) f += 2 * I * (image_dim * image_dim + image_dim * d);
  double block = 2 * L * 4 * d * d + 4 * L * L * d;     // self-attention projections, QK^T and PV
  block += 2 * L * 2 * d * d + 2 * T * 2 * d * d + 4 * L * T * d;  // cross-attention to the text
  if (added_kv_proj_dim) block += 2 * I * 2 * added_kv_proj_dim * d + 4 * L * I * d;
  block += 2 * L * 2 * d * ffn_dim;
  f += num_layers * block + 2 * L * d * out_channels * patch_volume();
  return f;
}

void WanConfig::validate() const {
  if (num_attention_heads <= 0 || attention_head_dim <= 0 || in_channels <= 0 || out_channels <= 0 || text_dim <= 0 ||
      freq_dim <= 0 || ffn_dim <= 0 || num_layers < 0)
    throw_invalid("Wan config: sizes must be positive");
  for (int p : patch_size)
    if (p <= 0) throw_invalid("Wan config: patch_size entries must be positive");
  if (attention_head_dim % 2 || attention_head_dim < 6)
    throw_invalid("Wan config: attention_head_dim " + std::to_string(attention_head_dim) + " must be even and at least 6 for RoPE");
  if (freq_dim % 2) throw_invalid("Wan config: freq_dim must be even");
  if ((image_dim > 0) != (added_kv_proj_dim > 0))
    throw_invalid("Wan config: image_dim and added_kv_proj_dim must be set together (image-to-video) or both left out");
  if (added_kv_proj_dim > 0 && added_kv_proj_dim != inner_dim())
    throw_invalid("Wan config: added_kv_proj_dim " + std::to_string(added_kv_proj_dim) + " must equal the width " +
                  std::to_string(inner_dim()) + " (it projects the embedded image tokens)");
  if (rope_max_seq_len <= 0) throw_invalid("Wan config: rope_max_seq_len must be positive");
}

std::vector<std::pair<std::string, std::vector<int64_t>>> wan_checkpoint_shapes(const WanConfig& c) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) { out.emplace_back(name, std::move(shape)); };
  auto linear = [&](const std::string& p, int64_t o, int64_t i) {
    add(p + ".weight", {o, i});
    add(p + ".bias", {o});
  };
  auto norm = [&](const std::string& p, int64_t n) {
    add(p + ".weight", {n});
    add(p + ".bias", {n});
  };
  const int64_t d = c.inner_dim();
  add("patch_embedding.weight", {d, c.in_channels, c.patch_size[0], c.patch_size[1], c.patch_size[2]});
  add("patch_embedding.bias", {d});
  const std::string e = "condition_embedder.";
  linear(e + "time_embedder.linear_1", d, c.freq_dim);
  linear(e + "time_embedder.linear_2", d, d);
  linear(e + "time_proj", 6 * d, d);
  linear(e + "text_embedder.linear_1", d, c.text_dim);
  linear(e + "text_embedder.linear_2", d, d);
  if (c.image_to_video()) {
    norm(e + "image_embedder.norm1", c.image_dim);
    linear(e + "image_embedder.ff.net.0.proj", c.image_dim, c.image_dim);
    linear(e + "image_embedder.ff.net.2", d, c.image_dim);
    norm(e + "image_embedder.norm2", d);
  }
  for (int b = 0; b < c.num_layers; ++b) {
    const std::string p = "blocks." + std::to_string(b) + ".";
    for (const char* a : {"attn1.", "attn2."}) {
      for (const char* l : {"to_q", "to_k", "to_v", "to_out.0"}) linear(p + a + l, d, d);
      add(p + a + "norm_q.weight", {d});
      add(p + a + "norm_k.weight", {d});
    }
    if (c.added_kv_proj_dim) {
      linear(p + "attn2.add_k_proj", d, c.added_kv_proj_dim);
      linear(p + "attn2.add_v_proj", d, c.added_kv_proj_dim);
      add(p + "attn2.norm_added_k.weight", {d});
    }
    if (c.cross_attn_norm) norm(p + "norm2", d);
    linear(p + "ffn.net.0.proj", c.ffn_dim, d);
    linear(p + "ffn.net.2", d, c.ffn_dim);
    add(p + "scale_shift_table", {1, 6, d});
  }
  add("scale_shift_table", {1, 2, d});
  linear("proj_out", int64_t{c.out_channels} * c.patch_volume(), d);
  return out;
}

namespace {

// Keys both config.json layouts spell alike.
void read_common_keys(const nlohmann::json& j, WanConfig& c) {
  c.text_dim = j.value("text_dim", c.text_dim);
  c.freq_dim = j.value("freq_dim", c.freq_dim);
  c.ffn_dim = j.value("ffn_dim", c.ffn_dim);
  c.num_layers = j.value("num_layers", c.num_layers);
  c.cross_attn_norm = j.value("cross_attn_norm", c.cross_attn_norm);
  c.eps = j.value("eps", c.eps);
}

// The original Wan-AI config.json (WanModel: dim, num_heads, in_dim, out_dim, model_type) in diffusers terms.
WanConfig from_original_json(const nlohmann::json& j) {
  WanConfig c;
  const int dim = j.at("dim").get<int>();
  c.num_attention_heads = j.value("num_heads", c.num_attention_heads);
  if (c.num_attention_heads <= 0 || dim % c.num_attention_heads)
    throw_invalid("Wan config: dim " + std::to_string(dim) + " is not a multiple of num_heads");
  c.attention_head_dim = dim / c.num_attention_heads;
  c.in_channels = j.value("in_dim", c.in_channels);
  c.out_channels = j.value("out_dim", c.out_channels);
  read_common_keys(j, c);
  if (j.value("model_type", std::string("t2v")) == "i2v") {
    c.image_dim = 1280;  // CLIP ViT-H/14
    c.added_kv_proj_dim = dim;
  }
  c.validate();
  return c;
}

}  // namespace

WanConfig wan_config_from_json(const nlohmann::json& j) {
  if (j.contains("dim") && !j.contains("num_attention_heads")) return from_original_json(j);
  WanConfig c;
  if (j.contains("patch_size")) {
    const auto& p = j["patch_size"];
    if (!p.is_array() || p.size() != 3) throw_invalid("Wan config: patch_size must have 3 entries");
    for (size_t i = 0; i < 3; ++i) c.patch_size[i] = p[i].get<int>();
  }
  c.num_attention_heads = j.value("num_attention_heads", c.num_attention_heads);
  c.attention_head_dim = j.value("attention_head_dim", c.attention_head_dim);
  c.in_channels = j.value("in_channels", c.in_channels);
  c.out_channels = j.contains("out_channels") && !j["out_channels"].is_null() ? j["out_channels"].get<int>() : c.in_channels;
  read_common_keys(j, c);
  c.image_dim = optional_int(j, "image_dim");
  c.added_kv_proj_dim = optional_int(j, "added_kv_proj_dim");
  c.rope_max_seq_len = j.value("rope_max_seq_len", c.rope_max_seq_len);
  if (j.contains("qk_norm") && j["qk_norm"] != "rms_norm_across_heads")
    throw_invalid("Wan config: only qk_norm \"rms_norm_across_heads\" is supported");
  if (optional_int(j, "pos_embed_seq_len"))
    throw_invalid("Wan config: pos_embed_seq_len (first-last-frame models) is not supported");
  c.validate();
  return c;
}

WanConfig detect_wan_config(const WeightSource& w) {
  if (!w.has("patch_embedding.weight")) throw_invalid(not_wan(w, "no patch_embedding.weight"));
  if (!w.has("condition_embedder.time_proj.weight"))
    throw_invalid(not_wan(w, "no condition_embedder.time_proj.weight; an original Wan-AI checkpoint must be converted first"));
  WanConfig c;
  const TensorInfo& pe = w.info("patch_embedding.weight");
  if (pe.shape.size() != 5) throw_invalid(not_wan(w, "patch_embedding.weight is not a Conv3d weight [inner, C, t, h, w]"));
  const int64_t inner = pe.shape[0];
  c.in_channels = static_cast<int>(pe.shape[1]);
  for (size_t i = 0; i < 3; ++i) c.patch_size[i] = static_cast<int>(pe.shape[2 + i]);
  c.num_layers = w.count_blocks("blocks.");
  if (c.num_layers == 0) throw_invalid(not_wan(w, "no transformer blocks"));
  c.freq_dim = static_cast<int>(tensor_dim(w, "condition_embedder.time_embedder.linear_1.weight", 1));
  c.text_dim = static_cast<int>(tensor_dim(w, "condition_embedder.text_embedder.linear_1.weight", 1));
  c.ffn_dim = static_cast<int>(tensor_dim(w, "blocks.0.ffn.net.0.proj.weight", 0));
  c.cross_attn_norm = w.has("blocks.0.norm2.weight");
  const int64_t proj = tensor_dim(w, "proj_out.weight", 0);
  if (proj % c.patch_volume()) throw_invalid(not_wan(w, "proj_out rows are not a multiple of the patch volume"));
  c.out_channels = static_cast<int>(proj / c.patch_volume());
  if (w.has("condition_embedder.image_embedder.norm1.weight")) {
    c.image_dim = static_cast<int>(tensor_dim(w, "condition_embedder.image_embedder.norm1.weight", 0));
    c.added_kv_proj_dim = static_cast<int>(tensor_dim(w, "blocks.0.attn2.add_k_proj.weight", 1));
  }
  if (w.has("condition_embedder.image_embedder.pos_embed"))
    throw_invalid(w.origin() + ": Wan first-last-frame checkpoints (image_embedder.pos_embed) are not supported");
  if (w.config() && (w.config()->contains("num_attention_heads") || w.config()->contains("num_heads"))) {
    const WanConfig j = wan_config_from_json(*w.config());
    c.num_attention_heads = j.num_attention_heads;
    c.attention_head_dim = j.attention_head_dim;
    c.eps = j.eps;
    c.rope_max_seq_len = j.rope_max_seq_len;
  } else {
    if (inner % 128) throw_invalid(w.origin() + ": Wan width " + std::to_string(inner) +
                                   " is not a multiple of head dim 128; put a config.json with num_attention_heads beside the weights");
    c.attention_head_dim = 128;
    c.num_attention_heads = static_cast<int>(inner / 128);
  }
  if (c.inner_dim() != inner)
    throw_invalid(not_wan(w, "width " + std::to_string(inner) + " is not num_attention_heads x attention_head_dim from config.json"));
  c.validate();
  return c;
}

}  // namespace lattice
