// LTX-Video sampler wiring on the tiny reference transformer: the first Euler step equals the hand-made update
// from a direct forward, CFG with equal prompts equals no CFG, image conditioning pins its frame and steps the
// others by the schedule, LTXConditionPipeline's conditioning matches tools/ltx_condition_fixture.py, and the
// schedules (LTX's, ending at shift_terminal; the linear-quadratic one) with one step refused.
#include "nodes/models/ltx/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "gpu/ops/noise.h"
#include "gpu/ops/patchify.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "tests/nodes/models/ltx/max_diff.h"
#include "tests/support/tolerance.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
using test::max_diff;

class LtxSampler : public ::testing::Test {
 protected:
  void SetUp() override {
    fx_ = std::make_unique<Fixture>(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_transformer.safetensors");
    src_ = std::make_unique<WeightSource>(fixture_weights(*fx_));
    weights_ = std::make_unique<DeviceWeights>(*src_, gc());
    model_ = std::make_unique<LtxTransformer>(ltx_transformer_config_from_json(fx_->config()), *weights_);
    const HostTensor c = fx_->tensor("input.encoder_hidden_states");
    cond_ = {gpu::Tensor::from_floats(gc(), c.to_f32(), c.shape), fx_->f32("input.encoder_attention_mask")};
    gpu::CommandStream s(gc());
    noise_ = gpu::normal_noise(s, {1, 16, 2, 3, 4}, 7);
    s.finish();
  }
  gpu::Context& gc() { return gpu_.context(); }
  GpuService gpu_;
  std::unique_ptr<Fixture> fx_;
  std::unique_ptr<WeightSource> src_;
  std::unique_ptr<DeviceWeights> weights_;
  std::unique_ptr<LtxTransformer> model_;
  LtxConditioning cond_;
  gpu::Tensor noise_;
};

TEST_F(LtxSampler, FirstStepIsTheEulerUpdateOfOneForward) {
  LtxSamplerOptions o;
  o.steps = 2;  // one step has no schedule (nothing to stretch to shift_terminal): refused
  o.guidance = 1.0f;
  std::vector<float> first;  // packed [1, 24, 16] after step 1
  const gpu::Tensor out = ltx_sample(*model_, gc(), noise_, cond_, nullptr, o, {}, [&](int step, int, const gpu::Tensor& packed) {
    if (step == 1) first = packed.to_floats();
  });
  ASSERT_EQ(out.shape(), noise_.shape());

  const FlowMatchSchedule sched = ltx_schedule(o, 24);
  const auto rope = ltx_rope_tables(2, 3, 4, {8.0f / 25.0f, 32.0f, 32.0f}, 32);
  gpu::CommandStream s(gc());
  const gpu::Tensor packed = gpu::patchify(s, noise_, {1, 1, 1}, gpu::PatchOrder::ChannelMajor);
  const gpu::Tensor v = model_->forward(s, packed, cond_.embeds, cond_.mask, {sched.timesteps[0]},
                                        gpu::Tensor::from_floats(gc(), rope.cos, {24, 32}),
                                        gpu::Tensor::from_floats(gc(), rope.sin, {24, 32}));
  s.finish();
  const auto x = packed.to_floats(), vf = v.to_floats();
  std::vector<float> expect(x.size());
  const float dt = sched.sigmas[1] - sched.sigmas[0];
  for (size_t i = 0; i < x.size(); ++i) expect[i] = x[i] + dt * vf[i];
  EXPECT_LE(max_diff(first, expect), 1e-5f);
  o.steps = 1;
  EXPECT_THROW(ltx_sample(*model_, gc(), noise_, cond_, nullptr, o), Error);
}

TEST_F(LtxSampler, RefiningStartsFromNoisedLatentsAtTheFirstSigmaTaken) {
  gpu::CommandStream s0(gc());
  const gpu::Tensor start = gpu::normal_noise(s0, {1, 16, 2, 3, 4}, 11);
  s0.finish();
  LtxSamplerOptions o;
  o.steps = 2;
  o.strength = 0.5f;
  o.guidance = 1.0f;
  ASSERT_EQ(ltx_start_step(o), 1);
  const gpu::Tensor out = ltx_sample(*model_, gc(), noise_, cond_, nullptr, o, {}, {}, start);

  // One step (index 1) from sigma_1·noise + (1 - sigma_1)·start.
  const FlowMatchSchedule sched = ltx_schedule(o, 24);
  const float sigma = sched.sigmas[1];
  const auto n = noise_.to_floats(), st = start.to_floats();
  std::vector<float> begin(n.size());
  for (size_t i = 0; i < n.size(); ++i) begin[i] = sigma * n[i] + (1.0f - sigma) * st[i];
  const auto rope = ltx_rope_tables(2, 3, 4, {8.0f / 25.0f, 32.0f, 32.0f}, 32);
  gpu::CommandStream s(gc());
  const gpu::Tensor packed =
      gpu::patchify(s, gpu::Tensor::from_floats(gc(), begin, {1, 16, 2, 3, 4}), {1, 1, 1}, gpu::PatchOrder::ChannelMajor);
  const gpu::Tensor v = model_->forward(s, packed, cond_.embeds, cond_.mask, {sched.timesteps[1]},
                                        gpu::Tensor::from_floats(gc(), rope.cos, {24, 32}),
                                        gpu::Tensor::from_floats(gc(), rope.sin, {24, 32}));
  const gpu::Tensor vu = gpu::unpatchify(s, v, {2, 3, 4}, {1, 1, 1}, 16, gpu::PatchOrder::ChannelMajor);
  s.finish();
  const auto vf = vu.to_floats();
  std::vector<float> expect(begin.size());
  for (size_t i = 0; i < begin.size(); ++i) expect[i] = begin[i] + (sched.sigmas[2] - sched.sigmas[1]) * vf[i];
  EXPECT_LE(max_diff(out.to_floats(), expect), 1e-5f);
  EXPECT_THROW(ltx_sample(*model_, gc(), noise_, cond_, nullptr, o), Error);  // strength < 1 without latents
}

TEST_F(LtxSampler, GuidanceWithTheSamePromptAsNegativeChangesNothing) {
  LtxSamplerOptions o;
  o.steps = 2;
  o.guidance = 1.0f;
  const auto plain = ltx_sample(*model_, gc(), noise_, cond_, nullptr, o).to_floats();
  o.guidance = 4.0f;
  EXPECT_LE(max_diff(ltx_sample(*model_, gc(), noise_, cond_, &cond_, o).to_floats(), plain), 1e-4f);
  // A different negative does change the result, and guidance > 1 without one is refused.
  LtxConditioning other = cond_;
  other.mask.assign(other.mask.size(), 1.0f);
  EXPECT_GT(max_diff(ltx_sample(*model_, gc(), noise_, cond_, &other, o).to_floats(), plain), 1e-3f);
  EXPECT_THROW(ltx_sample(*model_, gc(), noise_, cond_, nullptr, o), Error);
}

TEST_F(LtxSampler, ImageConditioningKeepsTheFirstFrame) {
  gpu::CommandStream s(gc());
  const gpu::Tensor first = gpu::normal_noise(s, {1, 16, 1, 3, 4}, 99);
  s.finish();
  LtxSamplerOptions o;
  o.steps = 3;
  o.guidance = 1.0f;
  const auto out = ltx_sample(*model_, gc(), noise_, cond_, nullptr, o, first).to_floats();
  const auto f = first.to_floats();
  // [1, 16, 2, 3, 4]: frame 0 of channel c is out[c*24 + 0..11].
  for (int c = 0; c < 16; ++c)
    for (int i = 0; i < 12; ++i) EXPECT_EQ(out[static_cast<size_t>(c * 24 + i)], f[static_cast<size_t>(c * 12 + i)]);
  const gpu::Tensor bad = gpu::Tensor::from_floats(gc(), std::vector<float>(16 * 12 * 2, 0.0f), {1, 16, 2, 3, 4});
  EXPECT_THROW(ltx_sample(*model_, gc(), noise_, cond_, nullptr, o, bad), Error);
}

// The conditions of tools/ltx_condition_fixture.py's case `prefix` ("" or "b.") as the sampler takes them.
std::vector<LtxCondition> fixture_conditions(gpu::Context& gc, const Fixture& ref, const std::string& prefix,
                                             const nlohmann::json& run) {
  std::vector<LtxCondition> out;
  for (size_t i = 0; i < run.at("conditions").size(); ++i) {
    const std::string p = "input." + prefix + "condition." + std::to_string(i) + ".";
    LtxCondition c;
    c.latent = upload_fixture_tensor(gc, ref, p + "latent");
    if (ref.has(p + "noise")) c.noise = upload_fixture_tensor(gc, ref, p + "noise");
    c.frame_index = run.at("conditions").at(i).at("frame_index").get<int>();
    c.strength = run.at("conditions").at(i).at("strength").get<float>();
    out.push_back(c);
  }
  return out;
}

// LTXImageToVideoPipeline's step: the whole latent moves by the schedule's step (sigma_1 - sigma_0) from one
// forward with timestep 0 on the image's tokens, then the image frame is put back.
TEST_F(LtxSampler, ImageConditioningStepsTheOtherFramesByTheSchedule) {
  gpu::CommandStream s0(gc());
  const gpu::Tensor image = gpu::normal_noise(s0, {1, 16, 1, 3, 4}, 99);
  s0.finish();
  LtxSamplerOptions o;
  o.steps = 2;
  o.guidance = 1.0f;
  o.image_index = 1;
  std::vector<float> first;  // packed [1, 24, 16] after step 1
  ltx_sample(*model_, gc(), noise_, cond_, nullptr, o, image, [&](int step, int, const gpu::Tensor& packed) {
    if (step == 1) first = packed.to_floats();
  });

  const FlowMatchSchedule sched = ltx_schedule(o, 24);
  std::vector<float> x = noise_.to_floats();  // [16, 2, 3, 4]: latent frame 1 of channel c at c*24 + 12
  const std::vector<float> f = image.to_floats();
  for (int c = 0; c < 16; ++c)
    for (int i = 0; i < 12; ++i) x[static_cast<size_t>(c * 24 + 12 + i)] = f[static_cast<size_t>(c * 12 + i)];
  std::vector<float> timesteps(24, sched.timesteps[0]);
  std::fill(timesteps.begin() + 12, timesteps.end(), 0.0f);
  const auto rope = ltx_rope_tables(2, 3, 4, {8.0f / 25.0f, 32.0f, 32.0f}, 32);
  gpu::CommandStream s(gc());
  const gpu::Tensor packed =
      gpu::patchify(s, gpu::Tensor::from_floats(gc(), x, {1, 16, 2, 3, 4}), {1, 1, 1}, gpu::PatchOrder::ChannelMajor);
  const gpu::Tensor v = model_->forward(s, packed, cond_.embeds, cond_.mask, timesteps, gpu::Tensor::from_floats(gc(), rope.cos, {24, 32}),
                                        gpu::Tensor::from_floats(gc(), rope.sin, {24, 32}));
  s.finish();
  const std::vector<float> xp = packed.to_floats(), vf = v.to_floats();
  const float dt = sched.sigmas[1] - sched.sigmas[0];
  ASSERT_EQ(first.size(), xp.size());
  for (size_t at = 0; at < xp.size(); ++at) {
    if (at < 12 * 16) EXPECT_NEAR(first[at], xp[at] + dt * vf[at], 1e-5f) << at;  // frame 0: moved
    else EXPECT_EQ(first[at], xp[at]) << at;                                      // frame 1: the image
  }
}

TEST_F(LtxSampler, ConditionedSamplingMatchesLTXConditionPipeline) {
  // tools/ltx_condition_fixture.py: a frame-0 image at strength 0.8, a keyframe at frame 24 (appended tokens)
  // and a clip at frame 8 at strength 0.6, 3 steps with CFG, on this tiny transformer.
  const Fixture ref(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_condition_sampler.safetensors");
  std::vector<LtxCondition> conditions = fixture_conditions(gc(), ref, "", ref.run());
  LtxSamplerOptions o;
  o.steps = ref.run().at("steps").get<int>();
  o.guidance = ref.run().at("guidance").get<float>();
  o.frame_rate = ref.run().at("frame_rate").get<float>();
  const std::vector<float> sigmas = ref.f32("input.sigmas");
  EXPECT_LE(max_diff(ltx_schedule(o, 24).sigmas, sigmas), 1e-6f);  // the same schedule on both sides

  LtxConditioning negative = cond_;
  negative.mask = ref.f32("input.negative_mask");
  std::vector<std::vector<float>> steps;  // the video's tokens after each step
  const gpu::Tensor noise = upload_fixture_tensor(gc(), ref, "input.noise");
  const gpu::Tensor out = ltx_sample_conditioned(*model_, gc(), noise, cond_,
                                                 &negative, o, conditions,
                                                 [&](int, int, const gpu::Tensor& packed) { steps.push_back(packed.to_floats()); });
  ASSERT_EQ(out.shape(), (gpu::Shape{1, 16, 4, 2, 3}));
  EXPECT_TRUE(test::within_tolerance(out.to_floats(), ref.f32("output.latents")));
  ASSERT_EQ(steps.size(), 3u);
  const int64_t appended = ref.run().at("appended").get<int64_t>();
  for (size_t k = 0; k < steps.size(); ++k) {
    const std::vector<float> all = ref.f32("output.step." + std::to_string(k + 1));
    const std::vector<float> video(all.begin() + appended * 16, all.end());
    EXPECT_TRUE(test::within_tolerance(steps[k], video)) << "step " << k + 1;
  }
  // Held tokens: latent frame 0 (strength 0.8, sigma 1 and 0.63 >= 0.2) is the prepared blend, unchanged by the
  // first two steps, and moves in the last (sigma 0.1).
  const std::vector<float> prepared = ref.f32("output.prepared.latents");
  const std::vector<float> frame0(prepared.begin() + appended * 16, prepared.begin() + (appended + 6) * 16);
  EXPECT_LE(max_diff(std::vector<float>(steps[0].begin(), steps[0].begin() + 6 * 16), frame0), 1e-6f);
  for (size_t i = 0; i < 6 * 16; ++i) ASSERT_EQ(steps[1][i], steps[0][i]) << i;
  EXPECT_GT(max_diff(std::vector<float>(steps[2].begin(), steps[2].begin() + 6 * 16), frame0), 1e-3f);

  // Bad conditions are refused before anything runs.
  conditions[1].frame_index = 25;
  try {
    ltx_sample_conditioned(*model_, gc(), noise, cond_, nullptr, LtxSamplerOptions{.steps = 2, .guidance = 1.0f}, conditions);
    ADD_FAILURE() << "a condition past the last frame was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("condition 2: frame_index 25 is outside the video's 25 frames"), std::string::npos)
        << e.what();
  }
}

// Case b: refining start latents (denoise_strength 0.5: the last 2 of 4 steps) on the pipeline's linear-quadratic
// schedule without CFG, an image held at frame 0 and a keyframe at frame 16 at strength 0.7.
TEST_F(LtxSampler, ConditionedRefiningMatchesLTXConditionPipeline) {
  const Fixture ref(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_condition_sampler.safetensors");
  const nlohmann::json& run = ref.run().at("b");
  LtxSamplerOptions o;
  o.steps = run.at("steps").get<int>();
  o.guidance = 1.0f;
  o.strength = run.at("denoise_strength").get<float>();
  o.linear_quadratic = true;
  std::vector<std::vector<float>> steps;
  const gpu::Tensor out = ltx_sample_conditioned(
      *model_, gc(), upload_fixture_tensor(gc(), ref, "input.b.noise"), cond_, nullptr, o, fixture_conditions(gc(), ref, "b.", run),
      [&](int, int, const gpu::Tensor& packed) { steps.push_back(packed.to_floats()); }, upload_fixture_tensor(gc(), ref, "input.b.start"));
  EXPECT_TRUE(test::within_tolerance(out.to_floats(), ref.f32("output.b.latents")));
  ASSERT_EQ(steps.size(), 2u);
  const int64_t appended = run.at("appended").get<int64_t>();
  for (size_t k = 0; k < steps.size(); ++k) {
    const std::vector<float> all = ref.f32("output.b.step." + std::to_string(k + 1));
    EXPECT_TRUE(test::within_tolerance(steps[k], std::vector<float>(all.begin() + appended * 16, all.end()))) << "step " << k + 1;
  }
}

// cond_noise_scale (LTXConditionPipeline's image_cond_noise_scale): before each step the fully held tokens are
// their first value + scale·(t/1000)²·noise, the step's noise from (seed, offset + step·blocks); held tokens at
// strength < 1 are not re-noised.
TEST_F(LtxSampler, ConditionNoiseRenoisesFullyHeldTokensEachStep) {
  const Fixture ref(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_condition_sampler.safetensors");
  LtxCondition held{upload_fixture_tensor(gc(), ref, "input.condition.0.latent"), 0, 1.0f, {}};
  LtxCondition soft{upload_fixture_tensor(gc(), ref, "input.condition.2.latent"), 8, 0.6f,
                    upload_fixture_tensor(gc(), ref, "input.condition.2.noise")};
  LtxSamplerOptions o;
  o.steps = 3;
  o.guidance = 1.0f;
  o.cond_noise_scale = 0.15f;
  o.cond_noise_seed = 17;
  o.cond_noise_offset = 1000;
  const gpu::Tensor noise = upload_fixture_tensor(gc(), ref, "input.noise");
  std::vector<std::vector<float>> steps;
  ltx_sample_conditioned(*model_, gc(), noise, cond_, nullptr, o, {held, soft},
                         [&](int, int, const gpu::Tensor& packed) { steps.push_back(packed.to_floats()); });
  ASSERT_EQ(steps.size(), 3u);

  const LtxConditionGrid grid{16, 4, 2, 3, 8, 32, 25.0f};
  const LtxConditionedTokens t = ltx_condition_tokens(grid, ref.f32("input.noise"), {held, soft});
  const int64_t N = static_cast<int64_t>(t.mask.size()), E = t.appended, C = 16;
  ASSERT_EQ(E, 12);  // the clip's two leading latent frames
  const FlowMatchSchedule sched = ltx_schedule(o, 24);
  const uint64_t blocks = static_cast<uint64_t>((N * C + 3) / 4);
  for (size_t k = 0; k < 3; ++k) {
    std::vector<float> z(static_cast<size_t>(N * C));
    gpu::normal_noise_cpu(17, 1000 + k * blocks, z);
    const float tt = sched.timesteps[k] / 1000.0f, scale = 0.15f * (tt * tt);
    // Video frame 0 (strength 1): the first value plus this step's scaled noise, through every step.
    for (int64_t i = 0; i < 6 * C; ++i) {
      const size_t at = static_cast<size_t>(E * C + i);
      EXPECT_NEAR(steps[k][static_cast<size_t>(i)], t.packed[at] + scale * z[at], 1e-6f) << "step " << k + 1 << " value " << i;
    }
    // Video frame 3 (the clip's third frame, strength 0.6): held as prepared, not re-noised, until the last step.
    if (k < 2) {
      for (int64_t i = 18 * C; i < 24 * C; ++i)
        EXPECT_EQ(steps[k][static_cast<size_t>(i)], t.packed[static_cast<size_t>(E * C + i)]) << "step " << k + 1;
    }
  }
}

TEST(LtxSchedule, EndsAtShiftTerminal) {
  LtxSamplerOptions o;
  o.steps = 8;
  const FlowMatchSchedule s = ltx_schedule(o, 1536);
  ASSERT_EQ(s.sigmas.size(), 9u);
  EXPECT_NEAR(s.sigmas[7], 0.1f, 1e-6f);
  EXPECT_EQ(s.sigmas[8], 0.0f);
  EXPECT_FLOAT_EQ(s.timesteps[0], 1000.0f);
}

// LTXConditionPipeline's default schedule (linear_quadratic_schedule passed as timesteps, stretched to
// shift_terminal 0.1), bit for bit as tools/ltx_condition_fixture.py computes it; one step cannot be stretched.
TEST(LtxSchedule, LinearQuadraticIsTheConditionPipelinesDefault) {
  const Fixture ref(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_condition_sampler.safetensors");
  LtxSamplerOptions o;
  o.linear_quadratic = true;
  for (const int n : {2, 3, 8, 30, 50}) {
    o.steps = n;
    const FlowMatchSchedule s = ltx_schedule(o, 1536);  // no dynamic shift: the token count does not matter
    EXPECT_EQ(s.sigmas, ref.f32("output.linear_quadratic." + std::to_string(n))) << n << " steps";
    EXPECT_EQ(s.sigmas, ltx_schedule(o, 24).sigmas);
    EXPECT_EQ(s.timesteps[0], 1000.0f);
  }
  EXPECT_EQ(ltx_linear_quadratic_sigmas(1), std::vector<float>{1.0f});
  o.steps = 1;
  EXPECT_THROW(ltx_schedule(o, 24), Error);
}

}  // namespace
}  // namespace lattice
