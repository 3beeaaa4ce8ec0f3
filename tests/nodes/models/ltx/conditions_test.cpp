// LTXConditionPipeline's condition preparation (tools/ltx_condition_fixture.py): the packed tokens, their
// conditioning strengths and RoPE positions for a frame-0 image, a later keyframe and a clip, against the
// reference; and the inputs it refuses, with what was wrong.
#include "nodes/models/ltx/conditions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "tests/nodes/models/ltx/max_diff.h"
#include "tests/support/refusal.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
using test::max_diff;
using ::testing::HasSubstr;

class LtxConditions : public ::testing::Test {
 protected:
  void SetUp() override {
    fx_ = std::make_unique<Fixture>(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_condition_sampler.safetensors");
    for (size_t i = 0; i < fx_->run().at("conditions").size(); ++i) {
      const auto& r = fx_->run().at("conditions").at(i);
      LtxCondition c;
      const std::string p = "input.condition." + std::to_string(i) + ".";
      c.latent = upload_fixture_tensor(gc(), *fx_, p + "latent");
      if (fx_->has(p + "noise")) c.noise = upload_fixture_tensor(gc(), *fx_, p + "noise");
      c.frame_index = r.at("frame_index").get<int>();
      c.strength = r.at("strength").get<float>();
      conditions_.push_back(c);
    }
  }
  gpu::Context& gc() { return gpu_.context(); }
  // The fixture's video: [1, 16, 4, 2, 3], 25 frames at 25 fps.
  LtxConditionGrid grid() const { return {16, 4, 2, 3, 8, 32, 25.0f}; }
  std::string refusal(const std::vector<LtxCondition>& conditions) const {
    try {
      ltx_check_conditions(grid(), conditions);
    } catch (const Error& e) {
      return e.what();
    }
    return "(accepted)";
  }
  GpuService gpu_;
  std::unique_ptr<Fixture> fx_;
  std::vector<LtxCondition> conditions_;
};

TEST_F(LtxConditions, PreparedTokensMatchTheReference) {
  const LtxConditionedTokens t = ltx_condition_tokens(grid(), fx_->f32("input.noise"), conditions_);
  EXPECT_EQ(t.appended, fx_->run().at("appended").get<int64_t>());
  ASSERT_EQ(t.mask.size(), 42u);
  // The same float operations as torch.lerp: equal to the last bit but for the compiler's contractions.
  EXPECT_LE(max_diff(t.packed, fx_->f32("output.prepared.latents")), 1e-6f);
  EXPECT_EQ(t.mask, fx_->f32("output.prepared.mask"));
  const std::vector<float> coords = fx_->f32("output.prepared.coords");  // [1, 3, 42]
  for (size_t k = 0; k < t.coords.size(); ++k)
    for (size_t a = 0; a < 3; ++a) EXPECT_EQ(t.coords[k][a], coords[a * 42 + k]) << "token " << k << " axis " << a;
}

TEST_F(LtxConditions, FullStrengthAtFrameZeroIsTheLatentAndNeedsNoNoise) {
  LtxCondition c = conditions_[0];
  c.strength = 1.0f;
  const std::vector<float> video(16 * 4 * 6, 5.0f);
  const LtxConditionedTokens t = ltx_condition_tokens(grid(), video, {c});
  EXPECT_EQ(t.appended, 0);
  const std::vector<float> l = c.latent.to_floats();  // [16, 1, 2, 3]
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t ch = 0; ch < 16; ++ch) EXPECT_EQ(t.packed[static_cast<size_t>(p * 16 + ch)], l[static_cast<size_t>(ch * 6 + p)]);
  EXPECT_EQ(t.packed[6 * 16], 5.0f);  // frame 1 untouched
  LtxCondition keyframe = conditions_[1];  // strength 1 at frame 24: the noise is not used
  keyframe.noise = {};
  EXPECT_EQ(ltx_condition_tokens(grid(), video, {keyframe}).appended, 6);
}

TEST_F(LtxConditions, RefusesFramesOutsideTheVideo) {
  LtxCondition c = conditions_[1];
  c.frame_index = 25;
  EXPECT_THAT(refusal({c}), HasSubstr("frame_index 25 is outside the video's 25 frames (0..24)"));
  c.frame_index = -1;
  EXPECT_THAT(refusal({c}), HasSubstr("frame_index -1 is outside"));
}

// The first n latent frames of a [1, C, f, h, w] latent.
gpu::Tensor first_frames(gpu::Context& gc, const gpu::Tensor& latent, int64_t n) {
  const int64_t C = latent.dim(1), f = latent.dim(2), hw = latent.dim(3) * latent.dim(4);
  const std::vector<float> all = latent.to_floats();
  std::vector<float> out;
  for (int64_t c = 0; c < C; ++c)
    out.insert(out.end(), all.begin() + (c * f) * hw, all.begin() + (c * f + n) * hw);
  return gpu::Tensor::from_floats(gc, out, {1, C, n, latent.dim(3), latent.dim(4)});
}

void expect_same_tokens(const LtxConditionedTokens& a, const LtxConditionedTokens& b) {
  EXPECT_EQ(a.appended, b.appended);
  EXPECT_EQ(a.packed, b.packed);
  EXPECT_EQ(a.mask, b.mask);
  EXPECT_EQ(a.coords, b.coords);
}

// LTXConditionPipeline trims a clip that runs past the video's end to the 8k + 1 frames that fit
// (trim_conditioning_sequence) before encoding it; the encoder being causal, that is the clip latent's first
// k + 1 frames (LtxVaeTiledEncode.TemporalTilesEncodeEachLatentFrameWithTheFramesBeforeIt).
TEST_F(LtxConditions, AClipRunningPastTheVideosEndIsTrimmedToTheFramesThatFit) {
  const std::vector<float> video = fx_->f32("input.noise");  // 4 latent frames, 25 video frames
  EXPECT_EQ(ltx_condition_frames(3, 16, 25), 2);  // 9 frames fit from frame 16: 2 latent frames
  EXPECT_EQ(ltx_condition_frames(3, 8, 25), 3);   // 17 fit: all 3
  EXPECT_EQ(ltx_condition_frames(3, 24, 25), 1);  // the last frame: 1
  EXPECT_EQ(ltx_condition_frames(6, 0, 25), 4);
  EXPECT_EQ(ltx_appended_frames(3, 24, 25), 1);
  EXPECT_EQ(ltx_appended_frames(5, 0, 25), 0);

  // A 3-latent-frame clip (17 frames) from frame 16: its first 2 latent frames.
  LtxCondition clip = conditions_[2];
  ASSERT_EQ(clip.latent.dim(2), 3);
  clip.frame_index = 16;
  LtxCondition trimmed = clip;
  trimmed.latent = first_frames(gc(), clip.latent, 2);
  EXPECT_EQ(refusal({conditions_[0], clip}), "(accepted)");
  expect_same_tokens(ltx_condition_tokens(grid(), video, {conditions_[0], clip}),
                     ltx_condition_tokens(grid(), video, {conditions_[0], trimmed}));
  // From the last frame one latent frame is appended, blended with noise of one frame below strength 1.
  clip.frame_index = trimmed.frame_index = 24;
  clip.strength = trimmed.strength = 0.5f;
  clip.noise = trimmed.noise = conditions_[1].noise;  // [1, 16, 1, 2, 3]
  trimmed.latent = first_frames(gc(), clip.latent, 1);
  const LtxConditionedTokens last = ltx_condition_tokens(grid(), video, {clip});
  EXPECT_EQ(last.appended, 6);
  expect_same_tokens(last, ltx_condition_tokens(grid(), video, {trimmed}));
  clip.noise = conditions_[0].noise;  // the frame-0 condition has none
  EXPECT_THAT(refusal({clip}), HasSubstr("needs noise [1, 16, 1, 2, 3]"));

  // At frame 0 a clip longer than the video gives its first 4 latent frames.
  LtxCondition long_clip = conditions_[0];
  std::vector<float> values(16 * 6 * 6);
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.37f * static_cast<float>(i));
  long_clip.latent = gpu::Tensor::from_floats(gc(), values, {1, 16, 6, 2, 3});
  LtxCondition long_trimmed = long_clip;
  long_trimmed.latent = first_frames(gc(), long_clip.latent, 4);
  expect_same_tokens(ltx_condition_tokens(grid(), video, {long_clip}),
                     ltx_condition_tokens(grid(), video, {long_trimmed}));
}

TEST_F(LtxConditions, RefusesLatentsOfAnotherSize) {
  LtxCondition c = conditions_[0];
  c.latent = gpu::Tensor::from_floats(gc(), std::vector<float>(16 * 2 * 2, 0.0f), {1, 16, 1, 2, 2});
  EXPECT_THAT(refusal({c}), HasSubstr("latent [1, 16, 1, 2, 2] f32 should be [1, 16, f, 2, 3]"));
  // A latent the user connected is invalid input (exit 3); missing noise is the caller's error.
  test::expect_refused([&] { ltx_check_conditions(grid(), {c}); }, ErrorKind::InvalidInput, "should be [1, 16, f, 2, 3]");
  c.latent = gpu::Tensor::from_floats(gc(), std::vector<float>(8 * 6, 0.0f), {1, 8, 1, 2, 3});
  EXPECT_THAT(refusal({c}), HasSubstr("should be [1, 16, f, 2, 3]"));
  c.latent = gpu::Tensor::from_floats(gc(), std::vector<float>(16 * 6, 0.0f), {16, 1, 2, 3});
  EXPECT_THAT(refusal({c}), HasSubstr("should be [1, 16, f, 2, 3]"));
  c.latent = {};
  EXPECT_THAT(refusal({c}), HasSubstr("latent (none)"));
  // Appended with strength < 1: noise of the appended frames' shape.
  LtxCondition clip = conditions_[2];
  clip.noise = conditions_[1].noise;  // [1, 16, 1, 2, 3], the clip appends 2 frames
  EXPECT_THAT(refusal({clip}), HasSubstr("needs noise [1, 16, 2, 2, 3]"));
  test::expect_refused([&] { ltx_check_conditions(grid(), {clip}); }, ErrorKind::Evaluation, "needs noise");
}

TEST_F(LtxConditions, RefusesStrengthOutsideZeroToOne) {
  for (const float s : {-0.1f, 1.5f, NAN}) {
    LtxCondition c = conditions_[0];
    c.strength = s;
    EXPECT_THAT(refusal({c}), HasSubstr("is outside [0, 1]")) << s;
  }
  LtxCondition c = conditions_[0];
  c.strength = 0.0f;
  EXPECT_EQ(refusal({c}), "(accepted)");
}

}  // namespace
}  // namespace lattice
