// CLIP image preprocessing: bit-exact against the reference fixture (PIL's bicubic and transformers'
// CLIPImageProcessor re-implemented in tools/make_clip_vision_fixture.py), plus hand-checked small cases:
// RGB conversion, output sizes, crop offsets, constant images, and refused configurations.
#include "nodes/models/clip/image_preprocess.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/error.h"
#include "core/safetensors.h"
#include "nodes/models/fixture.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

TEST(ClipImagePreprocess, MatchesTheReferenceBitForBit) {
  const fs::path golden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden/clip_image_processor.safetensors";
  const fs::path out = fs::temp_directory_path() / ("clip_pre_" + std::to_string(::getpid()) + ".safetensors");
  ASSERT_EQ(run_fixture_file(golden, out), 5u);
  SafetensorsFile ref(golden), got(out);
  for (const auto& t : ref.tensors()) {
    if (t.name.rfind("output.", 0) != 0) continue;
    const auto r = ref.load(t.name).to_f32(), g = got.load(t.name).to_f32();
    ASSERT_EQ(r.size(), g.size()) << t.name;
    size_t differ = 0;
    for (size_t i = 0; i < r.size(); ++i) differ += r[i] != g[i];
    EXPECT_EQ(differ, 0u) << t.name;
  }
  fs::remove(out);
}

TEST(ClipImagePreprocess, ShortestEdgeSizesFollowTransformers) {
  EXPECT_EQ(shortest_edge_size(260, 180, 224), (std::array<int, 2>{323, 224}));  // int(224·260/180) = int(323.55)
  EXPECT_EQ(shortest_edge_size(47, 71, 32), (std::array<int, 2>{32, 48}));
  EXPECT_EQ(shortest_edge_size(224, 224, 224), (std::array<int, 2>{224, 224}));
  EXPECT_EQ(shortest_edge_size(832, 480, 224), (std::array<int, 2>{388, 224}));
}

TEST(ClipImagePreprocess, ConvertsToRgbAndQuantizes) {
  ImageData grey(2, 1, 1), rgba(1, 1, 4);
  grey.pixels = {0.5f, 1.2f};  // 127.5 rounds to even 128; values over 1 clamp
  rgba.pixels = {0.0f, 0.25f, 1.0f, 0.0f};
  const Rgb8 g = to_rgb8(grey), a = to_rgb8(rgba);
  EXPECT_EQ(g.pixels, (std::vector<uint8_t>{128, 128, 128, 255, 255, 255}));
  EXPECT_EQ(a.pixels, (std::vector<uint8_t>{0, 64, 255}));  // alpha dropped, 63.75 -> 64
}

TEST(ClipImagePreprocess, ResamplingKeepsConstantsAndSkipsUnchangedAxes) {
  Rgb8 flat{37, 23, std::vector<uint8_t>(37 * 23 * 3, 200)};
  const Rgb8 small = resize_bicubic_pil(flat, 11, 9), big = resize_bicubic_pil(flat, 80, 61);
  for (uint8_t v : small.pixels) ASSERT_EQ(v, 200);
  for (uint8_t v : big.pixels) ASSERT_EQ(v, 200);
  Rgb8 ramp{4, 3, {}};
  for (int i = 0; i < 4 * 3 * 3; ++i) ramp.pixels.push_back(static_cast<uint8_t>(i * 7));
  EXPECT_EQ(resize_bicubic_pil(ramp, 4, 3).pixels, ramp.pixels);
}

TEST(ClipImagePreprocess, CropsTheCentreAndNormalizes) {
  // 4x6 image, no resize, crop 2x2 at top (6-2)/2 = 2, left (4-2)/2 = 1; mean 0, std 1 leaves v/255.
  ImageData img(4, 6, 3);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) img.at(x, y, c) = static_cast<float>(10 * y + x + c) / 255.0f;
  ClipImageProcessorConfig c;
  c.shortest_edge = 0;
  c.crop_height = c.crop_width = 2;
  c.image_mean = {0, 0, 0};
  c.image_std = {1, 1, 1};
  const std::vector<float> v = clip_preprocess(img, c);
  ASSERT_EQ(v.size(), 12u);
  EXPECT_FLOAT_EQ(v[0], 21.0f / 255.0f);       // channel 0, (x 1, y 2)
  EXPECT_FLOAT_EQ(v[3], 32.0f / 255.0f);       // channel 0, (x 2, y 3)
  EXPECT_FLOAT_EQ(v[4 + 1], 23.0f / 255.0f);   // channel 1, (x 2, y 2)

  c.crop_height = 7;  // larger than the image
  EXPECT_THROW(clip_preprocess(img, c), Error);
}

TEST(ClipImagePreprocess, ReadsPreprocessorConfigsAndRefusesOtherFilters) {
  const auto c = ClipImageProcessorConfig::from_json(nlohmann::json::parse(
      R"({"size": {"shortest_edge": 336}, "crop_size": {"height": 336, "width": 336}, "resample": 3, "image_mean": [0.5, 0.5, 0.5]})"));
  EXPECT_EQ(c.shortest_edge, 336);
  EXPECT_EQ(c.crop_width, 336);
  EXPECT_EQ(c.image_mean[1], 0.5f);
  EXPECT_EQ(c.image_std[0], 0.26862954f);
  for (const char* bad : {R"({"resample": 2})", R"({"do_normalize": false})", R"({"size": {"height": 224, "width": 224}})",
                          R"({"image_std": [1, 2]})"}) {
    try {
      ClipImageProcessorConfig::from_json(nlohmann::json::parse(bad));
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
    }
  }
}

}  // namespace
}  // namespace lattice
