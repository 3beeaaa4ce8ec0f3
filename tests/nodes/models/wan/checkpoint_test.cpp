// Original Wan-AI layout: the I2V fixture's weights written under the original names (table below, from the
// Wan 2.1 repository's module names) load, convert, detect and reproduce the diffusers output; unknown
// tensors are refused by name.
#include "nodes/models/wan/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/wan/transformer.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

// diffusers -> original, as whole-name substitutions of the part after `blocks.N.` or of the top level.
std::string original_name(const std::string& n) {
  static const std::pair<const char*, const char*> top[] = {
      {"condition_embedder.text_embedder.linear_1.", "text_embedding.0."},
      {"condition_embedder.text_embedder.linear_2.", "text_embedding.2."},
      {"condition_embedder.time_embedder.linear_1.", "time_embedding.0."},
      {"condition_embedder.time_embedder.linear_2.", "time_embedding.2."},
      {"condition_embedder.time_proj.", "time_projection.1."},
      {"condition_embedder.image_embedder.norm1.", "img_emb.proj.0."},
      {"condition_embedder.image_embedder.ff.net.0.proj.", "img_emb.proj.1."},
      {"condition_embedder.image_embedder.ff.net.2.", "img_emb.proj.3."},
      {"condition_embedder.image_embedder.norm2.", "img_emb.proj.4."},
      {"proj_out.", "head.head."},
      {"scale_shift_table", "head.modulation"}};
  static const std::pair<const char*, const char*> block[] = {
      {"attn1.to_q.", "self_attn.q."}, {"attn1.to_k.", "self_attn.k."}, {"attn1.to_v.", "self_attn.v."},
      {"attn1.to_out.0.", "self_attn.o."}, {"attn1.norm_q.", "self_attn.norm_q."}, {"attn1.norm_k.", "self_attn.norm_k."},
      {"attn2.to_q.", "cross_attn.q."}, {"attn2.to_k.", "cross_attn.k."}, {"attn2.to_v.", "cross_attn.v."},
      {"attn2.to_out.0.", "cross_attn.o."}, {"attn2.norm_q.", "cross_attn.norm_q."}, {"attn2.norm_k.", "cross_attn.norm_k."},
      {"attn2.add_k_proj.", "cross_attn.k_img."}, {"attn2.add_v_proj.", "cross_attn.v_img."},
      {"attn2.norm_added_k.", "cross_attn.norm_k_img."}, {"norm2.", "norm3."}, {"ffn.net.0.proj.", "ffn.0."},
      {"ffn.net.2.", "ffn.2."}, {"scale_shift_table", "modulation"}};
  auto sub = [](const auto& table, const std::string& rest) {
    for (const auto& [from, to] : table)
      if (rest.rfind(from, 0) == 0) return std::string(to) + rest.substr(std::string(from).size());
    return rest;
  };
  if (n.rfind("blocks.", 0) == 0) {
    const size_t dot = n.find('.', 7);
    return n.substr(0, dot + 1) + sub(block, n.substr(dot + 1));
  }
  return sub(top, n);
}

TEST(WanCheckpoint, OriginalLayoutConvertsAndMatchesTheDiffusersOutput) {
  const Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/wan_transformer_i2v.safetensors");
  const WeightSource src = fixture_weights(fx);
  const fs::path dir = fs::temp_directory_path() / ("wan_orig_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::string> names;  // the weights only, not the fixture's inputs and outputs
  for (const auto& n : src.names())
    if (fx.has("weights." + n)) names.push_back(n);
  std::vector<std::pair<std::string, HostTensor>> ts;
  for (const auto& n : names) ts.emplace_back(original_name(n), src.load(n));
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : ts) list.emplace_back(n, &t);
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", list);
  // The original config.json's keys (WanModel), as Wan-AI's repositories ship them.
  std::ofstream(dir / "config.json") << R"({"_class_name": "WanModel", "model_type": "i2v", "dim": 32, "num_heads": 2,
      "in_dim": 36, "out_dim": 16, "text_dim": 32, "freq_dim": 64, "ffn_dim": 64, "num_layers": 1, "eps": 1e-06})";

  WeightSource w = WeightSource::open(dir);
  ASSERT_TRUE(is_wan_original(w));
  EXPECT_THROW(detect_wan_config(w), Error);  // names must be converted first
  convert_wan_original(w);
  EXPECT_FALSE(is_wan_original(w));
  EXPECT_EQ(w.names(), names);
  const WanConfig c = detect_wan_config(w);
  EXPECT_TRUE(c.image_to_video());
  EXPECT_EQ(c.num_attention_heads, 2);
  EXPECT_EQ(c.attention_head_dim, 16);

  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(w, ctx);
  WanTransformer model(c, weights);
  gpu::CommandStream s(ctx);
  const gpu::Tensor out = model.forward(s, upload_fixture_tensor(ctx, fx, "input.hidden_states"), fx.f32("input.timestep"),
                                        upload_fixture_tensor(ctx, fx, "input.encoder_hidden_states"),
                                        upload_fixture_tensor(ctx, fx, "input.encoder_hidden_states_image"));
  s.finish();
  const auto r = fx.f32("output.sample"), g = out.to_floats();
  ASSERT_EQ(g.size(), r.size());
  for (size_t i = 0; i < r.size(); ++i) ASSERT_NEAR(g[i], r[i], 1e-4f * 4.0f) << i;
  fs::remove_all(dir);
}

TEST(WanCheckpoint, OriginalConfigJsonGivesTheDiffusersConfig) {
  // Wan2.1-T2V-1.3B's config.json (original layout) and its diffusers twin.
  const WanConfig a = wan_config_from_json(nlohmann::json::parse(R"({"_class_name": "WanModel", "dim": 1536,
      "eps": 1e-06, "ffn_dim": 8960, "freq_dim": 256, "in_dim": 16, "model_type": "t2v", "num_heads": 12,
      "num_layers": 30, "out_dim": 16, "text_len": 512})"));
  std::ifstream in(fs::path(LATTICE_SOURCE_DIR) / "examples/models/Wan2.1-T2V-1.3B/transformer/config.json");
  const WanConfig b = wan_config_from_json(nlohmann::json::parse(in));
  EXPECT_EQ(a.parameter_count(), b.parameter_count());
  EXPECT_EQ(a.num_attention_heads, 12);
  EXPECT_EQ(a.attention_head_dim, 128);
  EXPECT_FALSE(a.image_to_video());
}

TEST(WanCheckpoint, UnknownTensorsInAnOriginalCheckpointAreNamed) {
  const fs::path dir = fs::temp_directory_path() / ("wan_orig_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const HostTensor t = HostTensor::from_f32({2}, {1, 2});
  write_safetensors(dir / "model.safetensors", {{"head.head.weight", &t}, {"blocks.0.mystery.weight", &t}});
  WeightSource w = WeightSource::open(dir / "model.safetensors");
  try {
    convert_wan_original(w);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("blocks.0.mystery.weight"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lattice
