// LTX-Video VAE: configuration detection from the weights, latent normalisation, and input checks.
#include "nodes/models/ltx/vae.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "core/error.h"
#include "gpu/ops/noise.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

const fs::path kGolden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_vae.safetensors";

// Every field that detection reads from the weights.
void expect_same_config(const LtxVaeConfig& c, const LtxVaeConfig& e) {
  EXPECT_EQ(c.latent_channels, e.latent_channels);
  EXPECT_EQ(c.patch_size, e.patch_size);
  EXPECT_EQ(c.in_channels, e.in_channels);
  EXPECT_EQ(c.block_out_channels, e.block_out_channels);
  EXPECT_EQ(c.layers_per_block, e.layers_per_block);
  EXPECT_EQ(c.down_block_types, e.down_block_types);
  EXPECT_EQ(c.downsample_type, e.downsample_type);
  EXPECT_EQ(c.spatio_temporal_scaling, e.spatio_temporal_scaling);
  EXPECT_EQ(c.decoder_block_out_channels, e.decoder_block_out_channels);
  EXPECT_EQ(c.decoder_layers_per_block, e.decoder_layers_per_block);
  EXPECT_EQ(c.decoder_spatio_temporal_scaling, e.decoder_spatio_temporal_scaling);
  EXPECT_EQ(c.decoder_inject_noise, e.decoder_inject_noise);
  EXPECT_EQ(c.upsample_factor, e.upsample_factor);
  EXPECT_EQ(c.upsample_residual, e.upsample_residual);
  EXPECT_EQ(c.timestep_conditioning, e.timestep_conditioning);
  EXPECT_EQ(c.spatial_compression(), 32);
  EXPECT_EQ(c.temporal_compression(), 8);
}

TEST(LtxVaeConfig, DetectedFromTheReferenceWeightsMatchesItsConfig) {
  Fixture fx(kGolden);
  const LtxVaeConfig e = ltx_vae_config_from_json(fx.config());
  WeightSource w = fixture_weights(fx);
  const LtxVaeConfig c = detect_ltx_vae_config(w);
  expect_same_config(c, e);
}

TEST(LtxVaeConfig, EncoderPresenceIsKnownFromTheWeights) {
  // ltx.sample and ltx.encode_image ask this before uploading anything.
  Fixture fx(kGolden);
  EXPECT_TRUE(ltx_vae_has_encoder(fixture_weights(fx)));
  EXPECT_FALSE(ltx_vae_has_encoder(fixture_weights(fx, "weights.decoder.")));  // no "encoder.*" names
}

TEST(LtxVaeConfig, OtherModelsAndUnsupportedConfigsAreRefused) {
  Fixture flux(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_vae.safetensors");
  WeightSource w = fixture_weights(flux);
  try {
    detect_ltx_vae_config(w);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("not an LTX-Video"), std::string::npos) << e.what();
  }
  // A config.json missing keys gets diffusers' defaults: the 0.9.0 layout.
  const LtxVaeConfig d = ltx_vae_config_from_json(nlohmann::json::object());
  EXPECT_TRUE(d.legacy_encoder());
  EXPECT_FALSE(d.timestep_conditioning);
  EXPECT_EQ(d.spatial_compression(), 32);
  EXPECT_EQ(d.temporal_compression(), 8);
  auto refused = [](const nlohmann::json& j, const std::string& says) {
    try {
      ltx_vae_config_from_json(j);
      ADD_FAILURE() << j.dump() << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused({{"down_block_types", {"LTXVideoDownBlock3D", "LTXVideo095DownBlock3D", "LTXVideoDownBlock3D", "LTXVideoDownBlock3D"}}},
          "LTXVideo095DownBlock3D");
  // LTXVideoDownBlock3D ignores downsample_type (a stride-2 conv), as diffusers does.
  EXPECT_EQ(ltx_vae_config_from_json({{"downsample_type", {"conv", "spatial", "conv", "conv"}}}).spatial_compression(), 32);
  const nlohmann::json modern = {{"down_block_types", std::vector<std::string>(4, "LTXVideo095DownBlock3D")},
                                 {"block_out_channels", {128, 256, 512, 1024, 2048}},
                                 {"spatio_temporal_scaling", {true, true, true, true}},
                                 {"downsample_type", {"spatial", "temporal", "spatiotemporal", "spatiotemporal"}}};
  EXPECT_EQ(ltx_vae_config_from_json(modern).temporal_compression(), 8);
  auto with = [&](const char* key, const nlohmann::json& v) {
    nlohmann::json j = modern;
    j[key] = v;
    return j;
  };
  refused(with("downsample_type", {"spatial", "pixel", "spatiotemporal", "spatiotemporal"}), "downsample_type 'pixel'");
  refused(with("down_block_types", {"LTXVideo095DownBlock3D", "LTXVideoUpBlock3D", "LTXVideo095DownBlock3D", "LTXVideo095DownBlock3D"}),
          "unknown down block type 'LTXVideoUpBlock3D'");
  // An LTXVideo095DownBlock3D's stride-2 conv keeps the width: 256 -> 512 needs space-to-depth.
  refused(with("downsample_type", {"spatial", "conv", "spatiotemporal", "spatiotemporal"}), "cannot go from 256 to 512 channels");
  // A spatiotemporal space-to-depth from 1024 channels packs 8192, which do not fall into 3000 equal groups.
  refused(with("block_out_channels", {128, 256, 512, 1024, 3000}), "cannot go from 1024 to 3000 channels");
  refused({{"decoder_inject_noise", {true, false, false, false}}}, "decoder_inject_noise");
  refused({{"decoder_causal", true}}, "non-causal decoder");
}

TEST(LtxVaeConfig, DetectedFromThe090And091WeightsMatchesTheirConfigs) {
  for (const char* file : {"ltx_vae_090.safetensors", "ltx_vae_091.safetensors"}) {
    SCOPED_TRACE(file);
    Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden" / file);
    const LtxVaeConfig e = ltx_vae_config_from_json(fx.config());
    WeightSource w = fixture_weights(fx);
    const LtxVaeConfig c = detect_ltx_vae_config(w);
    EXPECT_TRUE(c.legacy_encoder());
    expect_same_config(c, e);
  }
}

// ltx_vae_config_to_json (how ltx.load_vae's plan hands the config downstream) gives back what it was given,
// for each layout, the detected configs' scalars too.
TEST(LtxVaeConfig, ItsJsonReadsBackAsTheSameConfig) {
  for (const char* file : {"ltx_vae.safetensors", "ltx_vae_090.safetensors", "ltx_vae_091.safetensors", "ltx_vae_mixed.safetensors"}) {
    SCOPED_TRACE(file);
    Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden" / file);
    WeightSource w = fixture_weights(fx);
    const LtxVaeConfig c = detect_ltx_vae_config(w), back = ltx_vae_config_from_json(ltx_vae_config_to_json(c));
    expect_same_config(back, c);
    EXPECT_EQ(back.out_channels, c.out_channels);
    EXPECT_EQ(back.patch_size_t, c.patch_size_t);
    EXPECT_EQ(back.resnet_norm_eps, c.resnet_norm_eps);
    EXPECT_EQ(back.scaling_factor, c.scaling_factor);
    EXPECT_EQ(back.encode_peak_tensor_bytes(2, 3, 4), c.encode_peak_tensor_bytes(2, 3, 4));
  }
}

// An encoder mixing LTXVideoDownBlock3D and LTXVideo095DownBlock3D blocks (tools/ltx_vae_fixture.py --version
// mixed): every block's type and downsampler are read from its weights; Fixture.LtxVaeMixed checks the numbers.
TEST(LtxVaeConfig, DetectedFromAMixedEncoderMatchesItsConfig) {
  Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_vae_mixed.safetensors");
  const LtxVaeConfig e = ltx_vae_config_from_json(fx.config());
  WeightSource w = fixture_weights(fx);
  const LtxVaeConfig c = detect_ltx_vae_config(w);
  EXPECT_FALSE(c.legacy_encoder());
  EXPECT_EQ(c.down_block_types, (std::vector<std::string>{"LTXVideoDownBlock3D", "LTXVideo095DownBlock3D", "LTXVideoDownBlock3D",
                                                          "LTXVideo095DownBlock3D"}));
  EXPECT_EQ(c.encoder_downsample(1), "spatial");
  EXPECT_EQ(c.encoder_downsample(2), "conv");
  EXPECT_EQ(c.encoder_block_widths(0), (std::pair<int, int>{8, 16}));
  EXPECT_EQ(c.encoder_block_widths(2), (std::pair<int, int>{16, 32}));  // through its conv_out resnet
  EXPECT_EQ(c.encoder_block_widths(3), (std::pair<int, int>{32, 32}));
  expect_same_config(c, e);
}

TEST(LtxVaeConfig, APartialConfigJsonGivesOnlyWhatTheWeightsCannotSay) {
  // A diffusers folder whose config.json predates the newer keys (its lists sized for another decoder):
  // the layout comes from the weights, upsample_residual from the config when it has it.
  Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_vae_091.safetensors");
  const fs::path dir = fs::temp_directory_path() / ("lattice_ltx_partial_config_" + std::to_string(::getpid()));
  test::write_fixture_component(fx, "weights.", {{"_class_name", "AutoencoderKLLTXVideo"}, {"scaling_factor", 0.5}}, dir);
  WeightSource a = WeightSource::open(dir);
  const LtxVaeConfig c = detect_ltx_vae_config(a);
  expect_same_config(c, ltx_vae_config_from_json(fx.config()));
  EXPECT_EQ(c.scaling_factor, 0.5f);
  test::write_fixture_component(fx, "weights.", {{"upsample_residual", {false, false, false}}}, dir);
  WeightSource b = WeightSource::open(dir);
  EXPECT_EQ(detect_ltx_vae_config(b).upsample_residual, (std::vector<bool>{false, false, false}));
  test::write_fixture_component(fx, "weights.", {{"upsample_residual", {true, true}}}, dir);
  WeightSource bad = WeightSource::open(dir);
  try {
    detect_ltx_vae_config(bad);
    ADD_FAILURE() << "a 2-entry upsample_residual for 3 up blocks was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("upsample_residual"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// A down block with neither a conv_out resnet nor a space-to-depth downsampler (0.9.0's last one) computes the
// same as either type; config.json's down_block_types names it, and then also how block_out_channels counts.
TEST(LtxVaeConfig, AnAmbiguousDownBlockTakesConfigJsonsType) {
  Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_vae_090.safetensors");
  const fs::path dir = fs::temp_directory_path() / ("lattice_ltx_ambiguous_block_" + std::to_string(::getpid()));
  nlohmann::json j = fx.config();
  j["down_block_types"] = {"LTXVideoDownBlock3D", "LTXVideoDownBlock3D", "LTXVideoDownBlock3D", "LTXVideo095DownBlock3D"};
  j["block_out_channels"] = {8, 16, 32, 32, 32};
  test::write_fixture_component(fx, "weights.", j, dir);
  WeightSource w = WeightSource::open(dir);
  const LtxVaeConfig c = detect_ltx_vae_config(w);
  EXPECT_EQ(c.down_block_types.back(), "LTXVideo095DownBlock3D");
  EXPECT_FALSE(c.legacy_encoder());
  EXPECT_EQ(c.block_out_channels, (std::vector<int>{8, 16, 32, 32, 32}));
  WeightSource bare = fixture_weights(fx);
  EXPECT_TRUE(detect_ltx_vae_config(bare).legacy_encoder());  // without config.json: no space-to-depth anywhere
  // Both readings encode the same.
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(w, ctx);
  const HostTensor video = fx.tensor("input.video");
  auto encode = [&](const LtxVaeConfig& config) {
    const LtxVae vae(config, weights);
    gpu::CommandStream s(ctx);
    return vae.encode(s, gpu::Tensor::from_floats(ctx, video.to_f32(), video.shape)).first.to_floats();
  };
  EXPECT_EQ(encode(c), encode(ltx_vae_config_from_json(fx.config())));
  fs::remove_all(dir);
}

TEST(LtxVae, InjectedNoiseIsTheSeededCounterBasedNoise) {
  // The 0.9.1 decoder's injection k draws normal_noise(seed, offset (k + 1)·2^40) over the whole latent at
  // that resolution: the same as handing it those fields computed on the CPU.
  Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_vae_091.safetensors");
  WeightSource src = fixture_weights(fx);
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(src, ctx);
  LtxVae vae(ltx_vae_config_from_json(fx.config()), weights);
  const HostTensor z = fx.tensor("input.latent");
  const gpu::Tensor latent = gpu::Tensor::from_floats(ctx, z.to_f32(), z.shape);
  auto decode = [&](const LtxDecodeNoise& n) {
    gpu::CommandStream s(ctx);
    const gpu::Tensor out = vae.decode(s, latent, {0.05f}, n);
    s.finish();
    return out.to_floats();
  };
  LtxDecodeNoise seeded, given;
  seeded.seed = given.seed = 77;
  for (int k = 0; fx.has("input.inject_noise." + std::to_string(k)); ++k) {
    const auto shape = fx.tensor("input.inject_noise." + std::to_string(k)).shape;
    std::vector<float> field(static_cast<size_t>(shape[0] * shape[1]));
    gpu::normal_noise_cpu(77, static_cast<uint64_t>(k + 1) << 40, field);
    given.fields.push_back(gpu::Tensor::from_floats(ctx, field, {shape[0], shape[1]}));
  }
  ASSERT_EQ(given.fields.size(), 8u);
  const std::vector<float> a = decode(seeded);
  EXPECT_EQ(a, decode(given));
  LtxDecodeNoise other;
  other.seed = 78;
  EXPECT_NE(a, decode(other));
  // Too few fields, or fields of the wrong size, are refused with the site named.
  given.fields.pop_back();
  EXPECT_THROW(decode(given), Error);
  given.fields.assign(1, gpu::Tensor::from_floats(ctx, std::vector<float>(4, 0.0f), {2, 2}));
  EXPECT_THROW(decode(given), Error);
}

TEST(LtxVae, NormalizeInvertsDenormalizeAndBadShapesAreRefused) {
  Fixture fx(kGolden);
  WeightSource src = fixture_weights(fx);
  GpuService gpu;
  DeviceWeights weights(src, gpu.context());
  LtxVae vae(ltx_vae_config_from_json(fx.config()), weights);
  const HostTensor z = fx.tensor("input.latent");
  gpu::CommandStream s(gpu.context());
  const gpu::Tensor in = gpu::Tensor::from_floats(gpu.context(), z.to_f32(), z.shape);
  const gpu::Tensor n = vae.normalize(s, in), back = vae.denormalize(s, n);
  s.finish();
  const auto a = z.to_f32(), nb = n.to_floats(), b = back.to_floats();
  // Channel 0 by hand: (z - mean) / std.
  const float m0 = fx.f32("weights.latents_mean")[0], s0 = fx.f32("weights.latents_std")[0];
  EXPECT_NEAR(nb[0], (a[0] - m0) / s0, 1e-5f);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 1e-5f);

  gpu::CommandStream s2(gpu.context());
  EXPECT_THROW(vae.decode(s2, in, {}), Error);  // timestep-conditioned: one timestep per video
  const gpu::Tensor bad = gpu::Tensor::from_floats(gpu.context(), std::vector<float>(3 * 8 * 32 * 32, 0.0f), {1, 3, 8, 32, 32});
  EXPECT_THROW(vae.encode(s2, bad), Error);  // 8 frames is not 1 + 8k
}

}  // namespace
}  // namespace lattice
