// LTX latent upsampler: configuration detection from the weights and refusal of what is not one.
#include "nodes/models/ltx/upsampler.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "nodes/models/fixture.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

TEST(LtxUpsamplerConfig, DetectedFromTheReferenceWeightsMatchesItsConfig) {
  for (const char* file : {"ltx_latent_upsampler.safetensors", "ltx_latent_upsampler_temporal.safetensors"}) {
    Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden" / file);
    const LtxUpsamplerConfig e = ltx_upsampler_config_from_json(fx.config());
    const LtxUpsamplerConfig c = detect_ltx_upsampler_config(fixture_weights(fx));
    EXPECT_EQ(c.in_channels, e.in_channels) << file;
    EXPECT_EQ(c.mid_channels, e.mid_channels) << file;
    EXPECT_EQ(c.num_blocks_per_stage, e.num_blocks_per_stage) << file;
    EXPECT_EQ(c.dims, e.dims) << file;
    EXPECT_EQ(c.spatial_upsample, e.spatial_upsample) << file;
    EXPECT_EQ(c.temporal_upsample, e.temporal_upsample) << file;
  }
}

TEST(LtxUpsamplerConfig, OtherWeightsAndUnsupportedConfigsAreRefused) {
  Fixture vae(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_vae.safetensors");
  try {
    detect_ltx_upsampler_config(fixture_weights(vae));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("not an LTX-Video latent upsampler"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ltx_upsampler_config_from_json({{"spatial_upsample", false}, {"temporal_upsample", false}}), Error);
  EXPECT_THROW(ltx_upsampler_config_from_json({{"dims", 2}, {"temporal_upsample", true}}), Error);
  EXPECT_THROW(ltx_upsampler_config_from_json({{"mid_channels", 48}}), Error);
}

}  // namespace
}  // namespace lattice
