#include "nodes/models/flux/config.h"

#include <fstream>

#include "core/error.h"
#include "nodes/models/checkpoint_shapes.h"

namespace lattice {

namespace {

int64_t dim(const WeightSource& w, const std::string& name, size_t axis) {
  const TensorInfo& t = w.info(name);
  if (t.shape.size() <= axis)
    throw_invalid(w.origin() + ": tensor '" + name + "' has rank " + std::to_string(t.shape.size()) + ", expected more than " +
                  std::to_string(axis));
  return t.shape[axis];
}

std::string not_flux(const WeightSource& w, const std::string& why) {
  return w.origin() + ": not a FLUX transformer checkpoint (" + why + ")";
}

}  // namespace

uint64_t FluxConfig::parameter_count() const { return element_count(flux_checkpoint_shapes(*this)); }

double FluxConfig::forward_flops(int64_t img, int64_t txt) const {
  const double d = inner_dim(), m = mlp_hidden(), L = static_cast<double>(img + txt);
  const double I = static_cast<double>(img), T = static_cast<double>(txt);
  double f = 2 * I * in_channels * d + 2 * T * joint_attention_dim * d;
  const double attn = 2 * 2 * L * L * d;  // QK^T and PV
  const double dbl = 2 * L * d * 3 * d + 2 * L * d * d + 2 * 2 * L * d * m + attn;
  const double sgl = 2 * L * d * (3 * d + m) + 2 * L * (d + m) * d + attn;
  f += num_layers * dbl + num_single_layers * sgl + 2 * I * d * out_channels;
  return f;
}

double FluxConfig::forward_activation_traffic_bytes(int64_t img, int64_t txt) const {
  const double d = inner_dim(), m = mlp_hidden(), L = static_cast<double>(img + txt);
  const double I = static_cast<double>(img), T = static_cast<double>(txt);
  // Elements in + out of each product and attention, in forward_flops's order.
  double e = I * (in_channels + d) + T * (joint_attention_dim + d);
  const double attn = 3 * L * d + L * d;                                     // q, k, v in; out
  const double dbl = L * (d + 3 * d) + L * (d + d) + 2 * L * (d + m) + attn;  // qkv, out proj, MLP in and out
  const double sgl = L * (d + 3 * d + m) + L * ((d + m) + d) + attn;         // qkv + MLP in, fused out proj
  e += num_layers * dbl + num_single_layers * sgl + I * (d + out_channels);
  return 4 * e;
}

std::optional<std::filesystem::path> flux_pipeline_scheduler_file(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (path.empty() || !fs::is_directory(path, ec)) return std::nullopt;
  if (fs::exists(path / "config.json", ec) && !fs::exists(path / "scheduler", ec))
    return path.parent_path() / "scheduler" / "scheduler_config.json";  // a transformer folder of a pipeline
  return path / "scheduler" / "scheduler_config.json";
}

std::optional<FlowMatchConfig> flux_pipeline_scheduler(const std::filesystem::path& path) {
  std::error_code ec;
  const std::optional<std::filesystem::path> at = flux_pipeline_scheduler_file(path);
  if (!at || !std::filesystem::exists(*at, ec)) return std::nullopt;
  const std::filesystem::path& file = *at;
  std::ifstream in(file);
  try {
    return flow_match_config_from_json(nlohmann::json::parse(in));
  } catch (const nlohmann::json::exception& e) {
    throw_invalid(file.string() + ": not a scheduler config: " + e.what());
  } catch (const Error& e) {
    throw_invalid(file.string() + ": " + e.what());
  }
}

void FluxConfig::validate() const {
  if (num_attention_heads <= 0 || attention_head_dim <= 0 || in_channels <= 0 || out_channels <= 0 || joint_attention_dim <= 0 ||
      pooled_projection_dim <= 0 || !(mlp_ratio > 0.0f))
    throw_invalid("FLUX config: sizes must be positive");
  if (num_layers < 0 || num_single_layers < 0) throw_invalid("FLUX config: num_layers and num_single_layers cannot be negative");
  if (attention_head_dim % 2) throw_invalid("FLUX config: attention_head_dim must be even for RoPE");
  if (axes_dims_rope[0] + axes_dims_rope[1] + axes_dims_rope[2] != attention_head_dim)
    throw_invalid("FLUX config: axes_dims_rope (" + std::to_string(axes_dims_rope[0]) + ", " + std::to_string(axes_dims_rope[1]) +
                  ", " + std::to_string(axes_dims_rope[2]) + ") must add up to attention_head_dim " +
                  std::to_string(attention_head_dim));
  for (int a : axes_dims_rope)
    if (a % 2) throw_invalid("FLUX config: every axes_dims_rope entry must be even");
}

std::vector<std::pair<std::string, std::vector<int64_t>>> flux_checkpoint_shapes(const FluxConfig& c) {
  const int64_t C = c.inner_dim(), M = c.mlp_hidden(), D = c.attention_head_dim;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  auto linear = [&](const std::string& prefix, int64_t out, int64_t in) {
    shapes.push_back({prefix + ".weight", {out, in}});
    shapes.push_back({prefix + ".bias", {out}});
  };
  linear("x_embedder", C, c.in_channels);
  linear("context_embedder", C, c.joint_attention_dim);
  std::vector<std::string> embedders{"timestep_embedder"};
  if (c.guidance_embeds) embedders.push_back("guidance_embedder");
  for (const auto& e : embedders) {
    linear("time_text_embed." + e + ".linear_1", C, 256);
    linear("time_text_embed." + e + ".linear_2", C, C);
  }
  linear("time_text_embed.text_embedder.linear_1", C, c.pooled_projection_dim);
  linear("time_text_embed.text_embedder.linear_2", C, C);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i) + ".";
    linear(p + "norm1.linear", 6 * C, C);
    linear(p + "norm1_context.linear", 6 * C, C);
    for (const char* n : {"to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out"})
      linear(p + "attn." + n, C, C);
    for (const char* n : {"norm_q", "norm_k", "norm_added_q", "norm_added_k"}) shapes.push_back({p + "attn." + n + ".weight", {D}});
    linear(p + "ff.net.0.proj", M, C);
    linear(p + "ff.net.2", C, M);
    linear(p + "ff_context.net.0.proj", M, C);
    linear(p + "ff_context.net.2", C, M);
  }
  for (int i = 0; i < c.num_single_layers; ++i) {
    const std::string p = "single_transformer_blocks." + std::to_string(i) + ".";
    linear(p + "norm.linear", 3 * C, C);
    for (const char* n : {"to_q", "to_k", "to_v"}) linear(p + "attn." + n, C, C);
    for (const char* n : {"norm_q", "norm_k"}) shapes.push_back({p + "attn." + n + ".weight", {D}});
    linear(p + "proj_mlp", M, C);
    linear(p + "proj_out", C, C + M);
  }
  linear("norm_out.linear", 2 * C, C);
  linear("proj_out", c.out_channels, C);
  return shapes;
}

FluxConfig flux_config_from_json(const nlohmann::json& j) {
  FluxConfig c;
  c.in_channels = j.value("in_channels", c.in_channels);
  c.out_channels = j.contains("out_channels") && !j["out_channels"].is_null() ? j["out_channels"].get<int>() : c.in_channels;
  c.num_layers = j.value("num_layers", c.num_layers);
  c.num_single_layers = j.value("num_single_layers", c.num_single_layers);
  c.attention_head_dim = j.value("attention_head_dim", c.attention_head_dim);
  c.num_attention_heads = j.value("num_attention_heads", c.num_attention_heads);
  c.joint_attention_dim = j.value("joint_attention_dim", c.joint_attention_dim);
  c.pooled_projection_dim = j.value("pooled_projection_dim", c.pooled_projection_dim);
  c.guidance_embeds = j.value("guidance_embeds", c.guidance_embeds);
  if (j.contains("axes_dims_rope")) {
    const auto& a = j["axes_dims_rope"];
    if (!a.is_array() || a.size() != 3) throw_invalid("FLUX config: axes_dims_rope must have 3 entries");
    for (int i = 0; i < 3; ++i) c.axes_dims_rope[static_cast<size_t>(i)] = a[static_cast<size_t>(i)].get<int>();
  }
  if (j.value("patch_size", 1) != 1) throw_invalid("FLUX config: only patch_size 1 (packed latents) is supported");
  c.validate();
  return c;
}

FluxConfig detect_flux_config(const WeightSource& w, FluxLayout* layout) {
  FluxConfig c;
  const bool diffusers = w.has("x_embedder.weight");
  const bool bfl = w.has("img_in.weight");
  if (!diffusers && !bfl) throw_invalid(not_flux(w, "no x_embedder.weight or img_in.weight"));
  if (layout) *layout = diffusers ? FluxLayout::Diffusers : FluxLayout::BFL;
  if (diffusers) {
    c.num_layers = w.count_blocks("transformer_blocks.");
    c.num_single_layers = w.count_blocks("single_transformer_blocks.");
    const int64_t inner = dim(w, "x_embedder.weight", 0);
    c.in_channels = static_cast<int>(dim(w, "x_embedder.weight", 1));
    c.joint_attention_dim = static_cast<int>(dim(w, "context_embedder.weight", 1));
    c.pooled_projection_dim = static_cast<int>(dim(w, "time_text_embed.text_embedder.linear_1.weight", 1));
    c.guidance_embeds = w.has("time_text_embed.guidance_embedder.linear_1.weight");
    const std::string norm_q = c.num_layers > 0 ? "transformer_blocks.0.attn.norm_q.weight" : "single_transformer_blocks.0.attn.norm_q.weight";
    c.attention_head_dim = static_cast<int>(dim(w, norm_q, 0));
    c.num_attention_heads = static_cast<int>(inner / c.attention_head_dim);
    c.out_channels = static_cast<int>(dim(w, "proj_out.weight", 0));
    if (c.num_layers > 0) c.mlp_ratio = static_cast<float>(dim(w, "transformer_blocks.0.ff.net.0.proj.weight", 0)) / static_cast<float>(inner);
  } else {
    c.num_layers = w.count_blocks("double_blocks.");
    c.num_single_layers = w.count_blocks("single_blocks.");
    const int64_t inner = dim(w, "img_in.weight", 0);
    c.in_channels = static_cast<int>(dim(w, "img_in.weight", 1));
    c.joint_attention_dim = static_cast<int>(dim(w, "txt_in.weight", 1));
    c.pooled_projection_dim = static_cast<int>(dim(w, "vector_in.in_layer.weight", 1));
    c.guidance_embeds = w.has("guidance_in.in_layer.weight");
    const std::string norm_q = c.num_layers > 0 ? "double_blocks.0.img_attn.norm.query_norm.scale" : "single_blocks.0.norm.query_norm.scale";
    c.attention_head_dim = static_cast<int>(dim(w, norm_q, 0));
    c.num_attention_heads = static_cast<int>(inner / c.attention_head_dim);
    c.out_channels = static_cast<int>(dim(w, "final_layer.linear.weight", 0));
    if (c.num_layers > 0) c.mlp_ratio = static_cast<float>(dim(w, "double_blocks.0.img_mlp.0.weight", 0)) / static_cast<float>(inner);
  }
  if (c.num_layers + c.num_single_layers == 0) throw_invalid(not_flux(w, "no transformer blocks"));
  if (c.inner_dim() != (diffusers ? dim(w, "x_embedder.weight", 0) : dim(w, "img_in.weight", 0)))
    throw_invalid(not_flux(w, "width is not a multiple of the head dim"));
  if (w.config() && w.config()->contains("axes_dims_rope")) {
    const FluxConfig from_json = flux_config_from_json(*w.config());
    c.axes_dims_rope = from_json.axes_dims_rope;
  } else if (c.attention_head_dim != 128) {
    throw_invalid(w.origin() + ": FLUX head dim " + std::to_string(c.attention_head_dim) +
                  " needs a config.json with axes_dims_rope beside the weights");
  }
  c.validate();
  return c;
}

}  // namespace lattice
