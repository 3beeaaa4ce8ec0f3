// FLUX configuration detection from weights, in the diffusers and BFL layouts.
#include "nodes/models/flux/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "nodes/models/fixture.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

TEST(FluxConfig, DetectedFromTheReferenceFixtureMatchesItsConfig) {
  const fs::path golden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_transformer.safetensors";
  Fixture fx(golden);
  const FluxConfig expect = flux_config_from_json(fx.config());
  // Lay the fixture's weights out as a diffusers transformer folder.
  const fs::path dir = fs::temp_directory_path() / ("flux_cfg_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "transformer");
  std::vector<std::pair<std::string, HostTensor>> ts;
  for (const auto& t : fx.file().tensors())
    if (t.name.rfind("weights.", 0) == 0) ts.emplace_back(t.name.substr(8), fx.file().load(t.name));
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : ts) list.emplace_back(n, &t);
  write_safetensors(dir / "transformer" / "diffusion_pytorch_model.safetensors", list);
  std::ofstream(dir / "transformer" / "config.json") << fx.config().dump();

  FluxLayout layout;
  const FluxConfig c = detect_flux_config(WeightSource::open(dir, "transformer"), &layout);
  EXPECT_EQ(layout, FluxLayout::Diffusers);
  EXPECT_EQ(c.num_layers, expect.num_layers);
  EXPECT_EQ(c.num_single_layers, expect.num_single_layers);
  EXPECT_EQ(c.attention_head_dim, expect.attention_head_dim);
  EXPECT_EQ(c.num_attention_heads, expect.num_attention_heads);
  EXPECT_EQ(c.joint_attention_dim, expect.joint_attention_dim);
  EXPECT_EQ(c.pooled_projection_dim, expect.pooled_projection_dim);
  EXPECT_EQ(c.in_channels, expect.in_channels);
  EXPECT_EQ(c.out_channels, expect.out_channels);
  EXPECT_EQ(c.guidance_embeds, expect.guidance_embeds);
  EXPECT_EQ(c.axes_dims_rope, expect.axes_dims_rope);

  // Without config.json a head dim other than 128 cannot give its RoPE split: a clear error.
  fs::remove(dir / "transformer" / "config.json");
  try {
    detect_flux_config(WeightSource::open(dir, "transformer"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("axes_dims_rope"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(FluxConfig, CheckpointShapesFromTheConfigAreTheReferenceFixturesTensors) {
  // What a config-only plan counts: every tensor of the diffusers checkpoint, by name and shape.
  Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_transformer.safetensors");
  std::map<std::string, std::vector<int64_t>> stored, planned;
  for (const auto& t : fx.file().tensors())
    if (t.name.rfind("weights.", 0) == 0) stored[t.name.substr(8)] = t.shape;
  for (const auto& [name, shape] : flux_checkpoint_shapes(flux_config_from_json(fx.config()))) planned[name] = shape;
  ASSERT_FALSE(stored.empty());
  EXPECT_EQ(planned, stored);
  // parameter_count() counts those tensors' elements.
  uint64_t elements = 0;
  for (const auto& [name, shape] : stored) elements += static_cast<uint64_t>(HostTensor{DType::F32, shape, {}}.numel());
  EXPECT_EQ(flux_config_from_json(fx.config()).parameter_count(), elements);
}

TEST(FluxConfig, BflLayoutOfFluxDevShapes) {
  // Only the tensors detection reads, with FLUX.1-dev's real shapes (zero-sized data would not be a real
  // file; shapes here are scaled to 1 row where detection reads only other axes).
  const fs::path f = fs::temp_directory_path() / ("flux_bfl_" + std::to_string(::getpid()) + ".safetensors");
  auto z = [](std::vector<int64_t> shape) {
    HostTensor t;
    t.dtype = DType::BF16;
    t.shape = std::move(shape);
    t.data.assign(static_cast<size_t>(t.numel()) * 2, 0);
    return t;
  };
  std::vector<std::pair<std::string, HostTensor>> ts = {
      {"img_in.weight", z({3072, 64})},
      {"txt_in.weight", z({3072, 4096})},
      {"vector_in.in_layer.weight", z({3072, 768})},
      {"guidance_in.in_layer.weight", z({3072, 256})},
      {"final_layer.linear.weight", z({64, 3072})},
      {"double_blocks.0.img_attn.norm.query_norm.scale", z({128})},
      {"double_blocks.0.img_mlp.0.weight", z({12288, 1})},
      {"double_blocks.1.img_attn.norm.query_norm.scale", z({128})},
      {"single_blocks.0.norm.query_norm.scale", z({128})},
  };
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : ts) list.emplace_back(n, &t);
  write_safetensors(f, list);
  FluxLayout layout;
  const FluxConfig c = detect_flux_config(WeightSource::open(f), &layout);
  EXPECT_EQ(layout, FluxLayout::BFL);
  EXPECT_EQ(c.inner_dim(), 3072);
  EXPECT_EQ(c.num_attention_heads, 24);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_single_layers, 1);
  EXPECT_TRUE(c.guidance_embeds);
  EXPECT_EQ(c.mlp_hidden(), 12288);
  EXPECT_EQ(c.axes_dims_rope, (std::array<int, 3>{16, 56, 56}));
  // The real FLUX.1-dev (19 double, 38 single blocks) has about 11.9 billion parameters.
  FluxConfig dev;
  EXPECT_NEAR(static_cast<double>(dev.parameter_count()) / 1e9, 11.9, 0.1);
  fs::remove(f);
}

TEST(FluxConfig, NotAFluxCheckpoint) {
  const fs::path f = fs::temp_directory_path() / ("notflux_" + std::to_string(::getpid()) + ".safetensors");
  HostTensor t = HostTensor::from_f32({1}, {0});
  write_safetensors(f, {{"encoder.conv_in.weight", &t}});
  try {
    detect_flux_config(WeightSource::open(f));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a FLUX transformer checkpoint"), std::string::npos);
  }
  fs::remove(f);
}

}  // namespace
}  // namespace lattice
