// CLIP text config detection from checkpoint names and shapes, with and without a config.json.
#include "nodes/models/clip/text_encoder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "nodes/models/fixture.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

TEST(ClipTextEncoder, DetectsTheConfigFromWeightsAndConfigJson) {
  const fs::path golden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden/clip_text_encoder.safetensors";
  const Fixture fx(golden);
  const ClipTextConfig stored = clip_text_config_from_json(fx.config());

  // The fixture is 32 wide with 4 heads of 8: without a config.json the head count cannot be known.
  try {
    detect_clip_text_config(fixture_weights(fx));
    ADD_FAILURE() << "detected a head count for a 32-wide CLIP without a config";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
  }

  // A text_encoder folder: model.safetensors + config.json.
  const fs::path dir = fs::temp_directory_path() / ("clip_detect_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(golden, dir / "model.safetensors", fs::copy_options::overwrite_existing);
  std::ofstream(dir / "config.json") << fx.config().dump();
  {
    WeightSource w = WeightSource::open(dir);
    w.strip_prefix("weights.");
    const ClipTextConfig got = detect_clip_text_config(w);
    EXPECT_EQ(got.vocab_size, stored.vocab_size);
    EXPECT_EQ(got.hidden_size, stored.hidden_size);
    EXPECT_EQ(got.intermediate_size, stored.intermediate_size);
    EXPECT_EQ(got.num_hidden_layers, stored.num_hidden_layers);
    EXPECT_EQ(got.num_attention_heads, 4);
    EXPECT_EQ(got.max_position_embeddings, 77);
    EXPECT_EQ(got.hidden_act, ClipTextConfig::Activation::QuickGelu);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lattice
