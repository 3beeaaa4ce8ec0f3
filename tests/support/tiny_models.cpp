#include "tests/support/tiny_models.h"

#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

namespace lattice::test {

void write_fixture_component(const Fixture& fx, const std::string& prefix, const nlohmann::json& config,
                             const std::filesystem::path& dir, const std::string& file) {
  std::vector<std::pair<std::string, HostTensor>> ts;
  for (const auto& t : fx.file().tensors())
    if (t.name.rfind(prefix, 0) == 0) ts.emplace_back(t.name.substr(prefix.size()), fx.file().load(t.name));
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : ts) list.emplace_back(n, &t);
  std::filesystem::create_directories(dir);
  write_safetensors(dir / file, list);
  std::ofstream(dir / "config.json") << config.dump();
}

void write_tiny_spiece(const std::filesystem::path& dir, const std::string& sentence) {
  std::filesystem::create_directories(dir);
  const std::filesystem::path corpus = dir / "corpus.txt";
  {
    std::ofstream out(corpus);
    for (int i = 0; i < 2000; ++i) out << sentence << " number " << i % 97 << "\n";
  }
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + corpus.string() + " --model_prefix=" + (dir / "spiece").string() +
      " --model_type=unigram --vocab_size=40 --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --minloglevel=2 --num_threads=1");
  std::filesystem::remove(corpus);
  if (!status.ok()) throw std::runtime_error("training the test SentencePiece model: " + status.ToString());
}

HostTensor write_tiny_flux(const std::filesystem::path& dir) {
  Fixture fx(std::filesystem::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_pipeline.safetensors");
  for (const char* comp : {"transformer", "vae"})
    write_fixture_component(fx, std::string("weights.") + comp + ".", fx.config()[comp], dir / "tiny-flux" / comp);
  const HostTensor p = fx.tensor("input.prompt_embeds"), q = fx.tensor("input.pooled_prompt_embeds"), n = fx.tensor("input.noise");
  write_safetensors(dir / "inputs.safetensors", {{"prompt_embeds", &p}, {"pooled_prompt_embeds", &q}, {"noise", &n}});
  return fx.tensor("output.image");
}

void write_random_checkpoint(const std::filesystem::path& dir, const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes,
                             const nlohmann::json& config, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<std::pair<std::string, HostTensor>> ts;
  for (const auto& [name, shape] : shapes) {
    HostTensor t{DType::BF16, shape, {}};
    const bool weight = name.ends_with(".weight");
    float scale = 0.1f, offset = 0;
    if (weight && shape.size() >= 2)
      scale = 1.0f / std::sqrt(static_cast<float>(t.numel() / shape[0]));  // 1/sqrt(fan_in)
    else if (weight)
      offset = 1;  // norm scales
    t.data.resize(static_cast<size_t>(t.numel()) * 2);
    for (int64_t i = 0; i < t.numel(); ++i) {
      const uint16_t v = float_to_bf16(offset + scale * normal(rng));
      std::memcpy(t.data.data() + i * 2, &v, 2);
    }
    ts.emplace_back(name, std::move(t));
  }
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : ts) list.emplace_back(n, &t);
  std::filesystem::create_directories(dir);
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", list);
  std::ofstream(dir / "config.json") << config.dump();
}

nlohmann::json write_random_flux(const std::filesystem::path& dir, int num_layers, int num_single_layers, int heads,
                                 unsigned seed, int in_channels, int head_dim, bool guidance_embeds) {
  if (head_dim != 64 && head_dim != 128) throw std::runtime_error("write_random_flux: head_dim 64 or 128");
  const int64_t D = head_dim, C = heads * D, M = 4 * C, in = in_channels, out = 64, joint = 64, pooled = 32;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  auto linear = [&](const std::string& prefix, int64_t out, int64_t fan_in) {
    shapes.push_back({prefix + ".weight", {out, fan_in}});
    shapes.push_back({prefix + ".bias", {out}});
  };
  auto norm = [&](const std::string& name) { shapes.push_back({name, {D}}); };
  linear("x_embedder", C, in);
  linear("context_embedder", C, joint);
  for (const char* e : {"timestep_embedder", "guidance_embedder"}) {
    if (!guidance_embeds && std::string(e) == "guidance_embedder") continue;
    linear(std::string("time_text_embed.") + e + ".linear_1", C, 256);
    linear(std::string("time_text_embed.") + e + ".linear_2", C, C);
  }
  linear("time_text_embed.text_embedder.linear_1", C, pooled);
  linear("time_text_embed.text_embedder.linear_2", C, C);
  for (int i = 0; i < num_layers; ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i) + ".";
    linear(p + "norm1.linear", 6 * C, C);
    linear(p + "norm1_context.linear", 6 * C, C);
    for (const char* n : {"to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out"})
      linear(p + "attn." + n, C, C);
    for (const char* n : {"norm_q", "norm_k", "norm_added_q", "norm_added_k"}) norm(p + "attn." + n + ".weight");
    linear(p + "ff.net.0.proj", M, C);
    linear(p + "ff.net.2", C, M);
    linear(p + "ff_context.net.0.proj", M, C);
    linear(p + "ff_context.net.2", C, M);
  }
  for (int i = 0; i < num_single_layers; ++i) {
    const std::string p = "single_transformer_blocks." + std::to_string(i) + ".";
    linear(p + "norm.linear", 3 * C, C);
    for (const char* n : {"to_q", "to_k", "to_v"}) linear(p + "attn." + n, C, C);
    norm(p + "attn.norm_q.weight");
    norm(p + "attn.norm_k.weight");
    linear(p + "proj_mlp", M, C);
    linear(p + "proj_out", C, C + M);
  }
  linear("norm_out.linear", 2 * C, C);
  linear("proj_out", out, C);
  const nlohmann::json config = {{"_class_name", "FluxTransformer2DModel"}, {"patch_size", 1}, {"in_channels", in},
                                 {"out_channels", in == out ? nlohmann::json() : nlohmann::json(out)}, {"num_layers", num_layers},
                                 {"num_single_layers", num_single_layers}, {"attention_head_dim", D},
                                 {"num_attention_heads", heads}, {"joint_attention_dim", joint},
                                 {"pooled_projection_dim", pooled}, {"guidance_embeds", guidance_embeds},
                                 {"axes_dims_rope", D == 64 ? std::vector<int>{16, 24, 24} : std::vector<int>{16, 56, 56}}};
  write_random_checkpoint(dir, shapes, config, seed);
  return config;
}

void write_flux_bfl(const WeightSource& w, const std::filesystem::path& file) {
  std::vector<std::pair<std::string, HostTensor>> ts;
  // `to`.weight/.bias from the rows of `parts` (diffusers modules) in order.
  auto fuse = [&](const std::string& to, const std::vector<std::string>& parts) {
    for (const char* kind : {".weight", ".bias"}) {
      if (!w.has(parts[0] + kind)) continue;
      HostTensor t = w.load(parts[0] + kind);
      for (size_t i = 1; i < parts.size(); ++i) {
        const HostTensor more = w.load(parts[i] + kind);
        t.data.insert(t.data.end(), more.data.begin(), more.data.end());
        t.shape[0] += more.shape[0];
      }
      ts.emplace_back(to + kind, std::move(t));
    }
  };
  auto norm = [&](const std::string& to, const std::string& from) { ts.emplace_back(to, w.load(from + ".weight")); };
  fuse("img_in", {"x_embedder"});
  fuse("txt_in", {"context_embedder"});
  for (const auto& [bfl, diffusers] : {std::pair{"time_in", "timestep_embedder"}, std::pair{"vector_in", "text_embedder"},
                                       std::pair{"guidance_in", "guidance_embedder"}}) {
    const std::string d = std::string("time_text_embed.") + diffusers;
    if (!w.has(d + ".linear_1.weight")) continue;
    fuse(std::string(bfl) + ".in_layer", {d + ".linear_1"});
    fuse(std::string(bfl) + ".out_layer", {d + ".linear_2"});
  }
  for (int i = 0; i < w.count_blocks("transformer_blocks."); ++i) {
    const std::string t = "transformer_blocks." + std::to_string(i) + ".", b = "double_blocks." + std::to_string(i) + ".";
    fuse(b + "img_mod.lin", {t + "norm1.linear"});
    fuse(b + "txt_mod.lin", {t + "norm1_context.linear"});
    fuse(b + "img_attn.qkv", {t + "attn.to_q", t + "attn.to_k", t + "attn.to_v"});
    fuse(b + "txt_attn.qkv", {t + "attn.add_q_proj", t + "attn.add_k_proj", t + "attn.add_v_proj"});
    norm(b + "img_attn.norm.query_norm.scale", t + "attn.norm_q");
    norm(b + "img_attn.norm.key_norm.scale", t + "attn.norm_k");
    norm(b + "txt_attn.norm.query_norm.scale", t + "attn.norm_added_q");
    norm(b + "txt_attn.norm.key_norm.scale", t + "attn.norm_added_k");
    fuse(b + "img_attn.proj", {t + "attn.to_out.0"});
    fuse(b + "txt_attn.proj", {t + "attn.to_add_out"});
    fuse(b + "img_mlp.0", {t + "ff.net.0.proj"});
    fuse(b + "img_mlp.2", {t + "ff.net.2"});
    fuse(b + "txt_mlp.0", {t + "ff_context.net.0.proj"});
    fuse(b + "txt_mlp.2", {t + "ff_context.net.2"});
  }
  for (int i = 0; i < w.count_blocks("single_transformer_blocks."); ++i) {
    const std::string t = "single_transformer_blocks." + std::to_string(i) + ".", b = "single_blocks." + std::to_string(i) + ".";
    fuse(b + "linear1", {t + "attn.to_q", t + "attn.to_k", t + "attn.to_v", t + "proj_mlp"});
    fuse(b + "linear2", {t + "proj_out"});
    norm(b + "norm.query_norm.scale", t + "attn.norm_q");
    norm(b + "norm.key_norm.scale", t + "attn.norm_k");
    fuse(b + "modulation.lin", {t + "norm.linear"});
  }
  fuse("final_layer.linear", {"proj_out"});
  fuse("final_layer.adaLN_modulation.1", {"norm_out.linear"});
  for (auto& [name, t] : ts)  // diffusers (scale, shift) -> BFL (shift, scale)
    if (name.starts_with("final_layer.adaLN_modulation.1."))
      std::rotate(t.data.begin(), t.data.begin() + static_cast<std::ptrdiff_t>(t.data.size() / 2), t.data.end());
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : ts) list.emplace_back(n, &t);
  std::filesystem::create_directories(file.parent_path());
  write_safetensors(file, list);
}

nlohmann::json write_random_wan(const std::filesystem::path& dir, const WanConfig& c, unsigned seed) {
  const nlohmann::json config = {{"_class_name", "WanTransformer3DModel"}, {"num_attention_heads", c.num_attention_heads},
                                 {"attention_head_dim", c.attention_head_dim}};
  write_random_checkpoint(dir, wan_checkpoint_shapes(c), config, seed);
  return config;
}

nlohmann::json write_random_ltx(const std::filesystem::path& dir, const LtxTransformerConfig& c, unsigned seed) {
  const nlohmann::json config = {{"_class_name", "LTXVideoTransformer3DModel"}, {"in_channels", c.in_channels},
                                 {"out_channels", c.out_channels}, {"num_attention_heads", c.num_attention_heads},
                                 {"attention_head_dim", c.attention_head_dim}, {"cross_attention_dim", c.cross_attention_dim},
                                 {"num_layers", c.num_layers}, {"caption_channels", c.caption_channels}};
  write_random_checkpoint(dir, ltx_checkpoint_shapes(c), config, seed);
  return config;
}

}  // namespace lattice::test
