// CLIP vision encoder: config detection from weights (with and without config.json), refusal of PyTorch
// pickles and of other checkpoints, and the penultimate-only forward (one layer less) giving exactly the
// full forward's hidden_states[-2]. The forward itself is checked against the reference in fixture_test.cpp.
#include "nodes/models/clip/vision_encoder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

const fs::path kGolden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";

class ClipVision : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("clip_vision_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  // An image_encoder folder: the fixture's weights (prefix kept, stripped on open) and optionally its config.
  WeightSource folder(const std::string& fixture, bool with_config) {
    const Fixture fx(kGolden / fixture);
    const fs::path root = dir / (fixture + (with_config ? ".with_config" : ".bare"));
    const fs::path d = root / "image_encoder";
    fs::create_directories(d);
    fs::copy_file(kGolden / fixture, d / "model.safetensors", fs::copy_options::overwrite_existing);
    if (with_config) std::ofstream(d / "config.json") << fx.config().dump();
    WeightSource w = open_clip_vision_weights(root);
    w.strip_prefix("weights.");
    return w;
  }
  fs::path dir;
};

void expect_invalid(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST_F(ClipVision, DetectsTheConfigFromWeightsAndConfigJson) {
  const ClipVisionConfig stored = clip_vision_config_from_json(Fixture(kGolden / "clip_vision_encoder.safetensors").config());
  const ClipVisionConfig got = detect_clip_vision_config(folder("clip_vision_encoder.safetensors", true));
  EXPECT_EQ(got.hidden_size, 24);
  EXPECT_EQ(got.num_attention_heads, stored.num_attention_heads);
  EXPECT_EQ(got.num_hidden_layers, 3);
  EXPECT_EQ(got.intermediate_size, 64);
  EXPECT_EQ(got.patch_size, 2);
  EXPECT_EQ(got.image_size, 32);
  EXPECT_EQ(got.tokens(), 257);
  EXPECT_EQ(got.projection_dim, 20);
  EXPECT_EQ(got.hidden_act, ClipActivation::Gelu);

  // CLIPVisionModel: the config names a projection width (512) but the weights have none.
  const ClipVisionConfig openai = detect_clip_vision_config(folder("clip_vision_encoder_openai.safetensors", true));
  EXPECT_EQ(openai.projection_dim, 0);
  EXPECT_EQ(openai.hidden_act, ClipActivation::QuickGelu);
  EXPECT_EQ(openai.tokens(), 17);

  // 24 wide is no released tower: without config.json its head count cannot be known.
  expect_invalid([&] { detect_clip_vision_config(folder("clip_vision_encoder.safetensors", false)); }, "config.json");
}

TEST_F(ClipVision, RefusesPicklesAndOtherCheckpoints) {
  std::ofstream(dir / "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth") << "PK\x03\x04 not a safetensors file";
  expect_invalid([&] { open_clip_vision_weights(dir / "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"); },
                 "safetensors only");
  fs::create_directories(dir / "wan" / "image_encoder");
  std::ofstream(dir / "wan" / "image_encoder" / "pytorch_model.bin") << "pickle";
  expect_invalid([&] { open_clip_vision_weights(dir / "wan"); }, "safetensors only");

  WeightSource text = fixture_weights(Fixture(kGolden / "clip_text_encoder.safetensors"));
  expect_invalid([&] { detect_clip_vision_config(text); }, "not a CLIP vision encoder");
}

TEST_F(ClipVision, PenultimateOnlyEqualsTheFullForwardsHiddenStatesMinusTwo) {
  const Fixture fx(kGolden / "clip_vision_encoder.safetensors");
  WeightSource src = fixture_weights(fx);
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(src, ctx);
  ClipVisionEncoder model(clip_vision_config_from_json(fx.config()), weights);
  const gpu::Tensor pixels = upload_fixture_tensor(ctx, fx, "input.pixel_values");
  gpu::CommandStream s(ctx);
  const ClipVisionOutput full = model.encode(s, pixels), part = model.encode(s, pixels, true);
  s.finish();
  EXPECT_FALSE(part.last_hidden.defined());
  EXPECT_EQ(part.penultimate.shape(), (gpu::Shape{2, 257, 24}));
  EXPECT_EQ(part.penultimate.to_floats(), full.penultimate.to_floats());

  const gpu::Tensor wrong = gpu::Tensor::from_floats(ctx, std::vector<float>(3 * 28 * 28), {1, 3, 28, 28});
  gpu::CommandStream s2(ctx);
  EXPECT_THROW(model.encode(s2, wrong), Error);
}

}  // namespace
}  // namespace lattice
