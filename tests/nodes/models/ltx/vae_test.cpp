// LTX-Video VAE: configuration detection from the weights, latent normalisation, and input checks.
#include "nodes/models/ltx/vae.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

const fs::path kGolden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_vae.safetensors";

TEST(LtxVaeConfig, DetectedFromTheReferenceWeightsMatchesItsConfig) {
  Fixture fx(kGolden);
  const LtxVaeConfig e = ltx_vae_config_from_json(fx.config());
  WeightSource w = fixture_weights(fx);
  const LtxVaeConfig c = detect_ltx_vae_config(w);
  EXPECT_EQ(c.latent_channels, e.latent_channels);
  EXPECT_EQ(c.patch_size, e.patch_size);
  EXPECT_EQ(c.in_channels, e.in_channels);
  EXPECT_EQ(c.block_out_channels, e.block_out_channels);
  EXPECT_EQ(c.layers_per_block, e.layers_per_block);
  EXPECT_EQ(c.downsample_type, e.downsample_type);
  EXPECT_EQ(c.spatio_temporal_scaling, e.spatio_temporal_scaling);
  EXPECT_EQ(c.decoder_block_out_channels, e.decoder_block_out_channels);
  EXPECT_EQ(c.decoder_layers_per_block, e.decoder_layers_per_block);
  EXPECT_EQ(c.decoder_spatio_temporal_scaling, e.decoder_spatio_temporal_scaling);
  EXPECT_EQ(c.upsample_factor, e.upsample_factor);
  EXPECT_EQ(c.upsample_residual, e.upsample_residual);
  EXPECT_EQ(c.timestep_conditioning, e.timestep_conditioning);
  EXPECT_EQ(c.spatial_compression(), 32);
  EXPECT_EQ(c.temporal_compression(), 8);
}

TEST(LtxVaeConfig, EncoderPresenceIsKnownFromTheWeights) {
  // ltx.sample and ltx.encode_image ask this before uploading anything.
  Fixture fx(kGolden);
  EXPECT_TRUE(ltx_vae_has_encoder(fixture_weights(fx)));
  EXPECT_FALSE(ltx_vae_has_encoder(fixture_weights(fx, "weights.decoder.")));  // no "encoder.*" names
}

TEST(LtxVaeConfig, OtherModelsAndOldLayoutsAreRefused) {
  Fixture flux(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_vae.safetensors");
  WeightSource w = fixture_weights(flux);
  try {
    detect_ltx_vae_config(w);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("not an LTX-Video"), std::string::npos) << e.what();
  }
  nlohmann::json j = {{"down_block_types", {"LTXVideoDownBlock3D"}}};
  EXPECT_THROW(ltx_vae_config_from_json(j), Error);
  EXPECT_THROW(ltx_vae_config_from_json({{"decoder_inject_noise", {true, false, false, false}}}), Error);
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
