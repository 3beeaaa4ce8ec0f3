// LTX-Video transformer: configuration detection (diffusers and Lightricks names), the RoPE tables against
// the reference's, and forward-pass equivalences the fixture does not cover (per-token timesteps, masks).
#include "nodes/models/ltx/transformer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "tests/nodes/models/ltx/max_diff.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
using test::max_diff;

const fs::path kGolden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_transformer.safetensors";

// The fixture's weights written as a component folder, optionally renamed and with a config.json.
fs::path write_folder(const Fixture& fx, const std::string& tag, bool with_config,
                      const std::function<std::string(std::string)>& rename = {}) {
  const fs::path dir = fs::temp_directory_path() / ("ltx_cfg_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<std::pair<std::string, HostTensor>> ts;
  for (const auto& t : fx.file().tensors())
    if (t.name.rfind("weights.", 0) == 0) {
      const std::string n = t.name.substr(8);
      ts.emplace_back(rename ? rename(n) : n, fx.file().load(t.name));
    }
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : ts) list.emplace_back(n, &t);
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", list);
  if (with_config) std::ofstream(dir / "config.json") << fx.config().dump();
  return dir;
}

void expect_same(const LtxTransformerConfig& c, const LtxTransformerConfig& e) {
  EXPECT_EQ(c.num_layers, e.num_layers);
  EXPECT_EQ(c.num_attention_heads, e.num_attention_heads);
  EXPECT_EQ(c.attention_head_dim, e.attention_head_dim);
  EXPECT_EQ(c.in_channels, e.in_channels);
  EXPECT_EQ(c.out_channels, e.out_channels);
  EXPECT_EQ(c.caption_channels, e.caption_channels);
  EXPECT_EQ(c.cross_attention_dim, e.cross_attention_dim);
  EXPECT_EQ(c.ff_hidden(), e.ff_hidden());
}

TEST(LtxTransformerConfig, DetectedFromTheReferenceWeightsMatchesItsConfig) {
  Fixture fx(kGolden);
  const LtxTransformerConfig expect = ltx_transformer_config_from_json(fx.config());
  const fs::path dir = write_folder(fx, "diffusers", true);
  expect_same(detect_ltx_transformer_config(WeightSource::open(dir)), expect);
  fs::remove_all(dir);

  // Without config.json, a width that no released model has cannot be split into heads: a clear error.
  const fs::path bare = write_folder(fx, "bare", false);
  try {
    detect_ltx_transformer_config(WeightSource::open(bare));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("attention_head_dim"), std::string::npos) << e.what();
  }
  fs::remove_all(bare);
}

TEST(LtxTransformerConfig, LightricksSingleFileNamesAreNormalised) {
  Fixture fx(kGolden);
  // Lightricks' originals: model.diffusion_model. prefix, patchify_proj, adaln_single, q_norm/k_norm.
  auto to_original = [](std::string n) {
    const std::pair<std::string, std::string> r[] = {
        {"proj_in", "patchify_proj"}, {"time_embed", "adaln_single"}, {"norm_q", "q_norm"}, {"norm_k", "k_norm"}};
    for (const auto& [from, to] : r)
      if (auto at = n.find(from); at != std::string::npos) n.replace(at, from.size(), to);
    return "model.diffusion_model." + n;
  };
  const fs::path dir = write_folder(fx, "original", true, to_original);
  WeightSource w = WeightSource::open(dir);
  EXPECT_THROW(detect_ltx_transformer_config(w), Error);
  EXPECT_TRUE(normalise_ltx_checkpoint(w));
  EXPECT_TRUE(w.has("transformer_blocks.1.attn2.norm_k.weight"));
  EXPECT_TRUE(w.has("time_embed.emb.timestep_embedder.linear_1.weight"));
  expect_same(detect_ltx_transformer_config(w), ltx_transformer_config_from_json(fx.config()));
  fs::remove_all(dir);
}

TEST(LtxTransformerConfig, OtherModelsAreRefusedByName) {
  Fixture flux(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_transformer.safetensors");
  try {
    detect_ltx_transformer_config(fixture_weights(flux));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("not an LTX-Video transformer"), std::string::npos) << e.what();
  }
  nlohmann::json j = {{"qk_norm", "rms_norm"}};
  EXPECT_THROW(ltx_transformer_config_from_json(j), Error);
}

TEST(LtxRope, TablesMatchTheReference) {
  Fixture fx(kGolden);
  const auto& run = fx.run();
  const std::array<float, 3> scale{run["rope_interpolation_scale"][0].get<float>(), run["rope_interpolation_scale"][1].get<float>(),
                                   run["rope_interpolation_scale"][2].get<float>()};
  const auto t = ltx_rope_tables(run["latent_fhw"][0], run["latent_fhw"][1], run["latent_fhw"][2], scale,
                                 ltx_transformer_config_from_json(fx.config()).inner_dim());
  const auto cos = fx.f32("intermediate.rope.0"), sin = fx.f32("intermediate.rope.1");
  ASSERT_EQ(cos.size(), t.cos.size());
  float err = 0;
  for (size_t i = 0; i < cos.size(); ++i) err = std::max({err, std::fabs(cos[i] - t.cos[i]), std::fabs(sin[i] - t.sin[i])});
  EXPECT_LE(err, 1e-5f);
  EXPECT_THROW(ltx_rope_tables(0, 2, 2, scale, 32), Error);
}

class LtxForward : public ::testing::Test {
 protected:
  void SetUp() override {
    fx_ = std::make_unique<Fixture>(kGolden);
    src_ = std::make_unique<WeightSource>(fixture_weights(*fx_));
    weights_ = std::make_unique<DeviceWeights>(*src_, gpu_.context());
    model_ = std::make_unique<LtxTransformer>(ltx_transformer_config_from_json(fx_->config()), *weights_);
    const auto& run = fx_->run();
    const std::array<float, 3> scale{0.32f, 32.0f, 32.0f};
    rope_ = ltx_rope_tables(run["latent_fhw"][0], run["latent_fhw"][1], run["latent_fhw"][2], scale, 32);
  }
  std::vector<float> forward(const std::vector<float>& mask, const std::vector<float>& t) {
    gpu::Context& ctx = gpu_.context();
    const HostTensor h = fx_->tensor("input.hidden_states"), c = fx_->tensor("input.encoder_hidden_states");
    gpu::CommandStream s(ctx);
    const gpu::Tensor out = model_->forward(s, gpu::Tensor::from_floats(ctx, h.to_f32(), h.shape),
                                            gpu::Tensor::from_floats(ctx, c.to_f32(), c.shape), mask, t,
                                            gpu::Tensor::from_floats(ctx, rope_.cos, {rope_.length, rope_.width}),
                                            gpu::Tensor::from_floats(ctx, rope_.sin, {rope_.length, rope_.width}));
    s.finish();
    return out.to_floats();
  }
  GpuService gpu_;
  std::unique_ptr<Fixture> fx_;
  std::unique_ptr<WeightSource> src_;
  std::unique_ptr<DeviceWeights> weights_;
  std::unique_ptr<LtxTransformer> model_;
  gpu::RopeTables rope_;
};

TEST_F(LtxForward, PerTokenTimestepsEqualToTheVideoTimestepGiveTheSameResult) {
  const auto mask = fx_->f32("input.encoder_attention_mask");
  const auto ref = forward(mask, {700.0f});
  EXPECT_LE(max_diff(forward(mask, std::vector<float>(24, 700.0f)), ref), 1e-5f);
  // A different timestep on one token changes the result (the per-token path is live).
  std::vector<float> t(24, 700.0f);
  t[0] = 0.0f;
  EXPECT_GT(max_diff(forward(mask, t), ref), 1e-3f);
}

TEST_F(LtxForward, AllOnesMaskEqualsNoMaskAndPaddingMatters) {
  const auto ones = std::vector<float>(8, 1.0f);
  EXPECT_LE(max_diff(forward(ones, {700.0f}), forward({}, {700.0f})), 1e-6f);
  EXPECT_GT(max_diff(forward(fx_->f32("input.encoder_attention_mask"), {700.0f}), forward({}, {700.0f})), 1e-3f);
}

TEST_F(LtxForward, WrongShapesAreEvaluationErrors) {
  EXPECT_THROW(forward({1, 1}, {700.0f}), Error);
  EXPECT_THROW(forward({}, {1.0f, 2.0f, 3.0f}), Error);
}

}  // namespace
}  // namespace lattice
