// The FLUX sampler's guidance options against the same steps taken by hand: separate transformer forwards
// (cond and uncond), combined on the host with the formula the sampler documents, then Euler steps on the
// host. A random FLUX (1 double + 1 single block, width 128), 8x6 latents (12 image tokens), 7 text tokens.
// Covered: true CFG with a negative prompt (uncond + s*(cond - uncond)), the guidance interval (the
// fraction of steps i/(n-1) within [cfg_start, cfg_end], boundaries included), the time-varying curve
// (1 + (s-1)*sin(pi*i/(n-1))), dynamic thresholding per sample (x0 = x - sigma*v clamped to [-q, q], q =
// max(1, linear quantile of |x0| at the percentile), v recomputed from it) and image-to-image's first step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "gpu/ops/rope.h"
#include "nodes/gpu_service.h"
#include "nodes/models/flux/config.h"
#include "nodes/models/flux/sampler.h"
#include "nodes/models/flux/transformer.h"
#include "tests/support/gpu_limits.h"
#include "tests/support/tiny_models.h"
#include "tests/support/tolerance.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kH = 8, kW = 6, kS = 12, kText = 7;

class FluxSampler : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("lattice_flux_sampler_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    test::write_random_flux(dir, 1, 1, 2, 5);
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  void SetUp() override { load(0); }
  // The model on a fresh device whose buffers hold at most `buffer_bytes` (0: the device's own limit).
  void load(uint64_t buffer_bytes) {
    model.reset();
    weights.reset();
    gpu = test::gpu_with_buffer_limit(buffer_bytes);
    source = std::make_unique<WeightSource>(WeightSource::open(dir));
    weights = std::make_unique<DeviceWeights>(*source, ctx());
    model = std::make_unique<FluxTransformer>(detect_flux_config(*source), *weights);
  }
  gpu::Context& ctx() { return gpu->context(); }

  std::vector<float> random(size_t n, unsigned seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    std::vector<float> v(n);
    for (auto& x : v) x = scale * normal(rng);
    return v;
  }
  FluxConditioning conditioning(int64_t batch, unsigned seed) {
    return {gpu::Tensor::from_floats(ctx(), random(static_cast<size_t>(batch * kText * 64), seed), {batch, kText, 64}),
            gpu::Tensor::from_floats(ctx(), random(static_cast<size_t>(batch * 32), seed + 1), {batch, 32})};
  }

  // One transformer forward of packed latents `x` [B, kS, 64] at scheduler time t (0..1000).
  std::vector<float> forward(const std::vector<float>& x, int64_t batch, const FluxConditioning& c, float t, float guidance,
                             FluxStepCache* cache = nullptr) {
    std::vector<float> ids(static_cast<size_t>(kText * 3), 0.0f);
    const auto img = flux_image_ids(kH, kW);
    ids.insert(ids.end(), img.begin(), img.end());
    const auto& a = model->config().axes_dims_rope;
    const int64_t axes[3] = {a[0], a[1], a[2]};
    const gpu::RopeTables r = gpu::flux_rope_tables(ids, axes);
    gpu::CommandStream s(ctx());
    const gpu::Tensor v = model->forward(
        s, gpu::Tensor::from_floats(ctx(), x, {batch, kS, 64}), c.prompt_embeds, c.pooled,
        std::vector<float>(static_cast<size_t>(batch), t / 1000.0f), std::vector<float>(static_cast<size_t>(batch), guidance),
        gpu::Tensor::from_floats(ctx(), r.cos, {r.length, r.width}), gpu::Tensor::from_floats(ctx(), r.sin, {r.length, r.width}), cache);
    s.finish();
    return v.to_floats();
  }

  // The sampler's steps by hand from step `first`: at step i, `scale(i)` > 0 applies true CFG at that scale
  // (0: the conditional prediction alone); `post(v, x, sigma)` may change v (thresholding).
  template <class Scale, class Post>
  std::vector<float> by_hand(std::vector<float> x, int64_t batch, const FluxConditioning& cond, const FluxConditioning* neg,
                             const FluxSamplerOptions& o, int first, Scale scale, Post post) {
    const FlowMatchSchedule sched = flux_schedule(o, kH, kW);
    for (int i = first; i < static_cast<int>(sched.timesteps.size()); ++i) {
      const float t = sched.timesteps[static_cast<size_t>(i)];
      std::vector<float> v = forward(x, batch, cond, t, o.guidance);
      if (const float w = scale(i); w > 0) {
        const std::vector<float> vn = forward(x, batch, *neg, t, o.guidance);
        for (size_t k = 0; k < v.size(); ++k) v[k] = vn[k] + w * (v[k] - vn[k]);
      }
      const float sigma = sched.sigmas[static_cast<size_t>(i)], dt = sched.sigmas[static_cast<size_t>(i + 1)] - sigma;
      post(v, x, sigma);
      for (size_t k = 0; k < x.size(); ++k) x[k] += dt * v[k];
    }
    return x;
  }
  std::vector<float> sample(const std::vector<float>& x, int64_t batch, const FluxConditioning& cond, const FluxConditioning* neg,
                            const FluxSamplerOptions& o, std::vector<FluxStepRecord>* records = nullptr) {
    return flux_sample(*model, ctx(), gpu::Tensor::from_floats(ctx(), x, {batch, kS, 64}), kH, kW, cond, neg, o, {}, records)
        .to_floats();
  }

  static float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
    float d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
    return d;
  }

  static inline fs::path dir;
  std::shared_ptr<GpuService> gpu;
  std::unique_ptr<WeightSource> source;
  std::unique_ptr<DeviceWeights> weights;
  std::unique_ptr<FluxTransformer> model;
};

const auto kNoPost = [](std::vector<float>&, const std::vector<float>&, float) {};

TEST_F(FluxSampler, TrueCfgWithANegativePromptEqualsGuidedStepsByHand) {
  const FluxConditioning cond = conditioning(1, 10), neg = conditioning(1, 20);
  const std::vector<float> x = random(kS * 64, 30);
  FluxSamplerOptions o;
  o.steps = 3;
  o.true_cfg = 4.0f;
  std::vector<FluxStepRecord> records;
  const std::vector<float> got = sample(x, 1, cond, &neg, o, &records);
  const std::vector<float> want = by_hand(x, 1, cond, &neg, o, 0, [](int) { return 4.0f; }, kNoPost);
  EXPECT_TRUE(test::within_tolerance(got, want));
  ASSERT_EQ(records.size(), 3u);
  for (const FluxStepRecord& r : records) EXPECT_TRUE(r.guided);
  // Guidance changed the result well beyond the tolerance (so the comparison above can fail).
  EXPECT_GT(max_diff(want, by_hand(x, 1, cond, &neg, o, 0, [](int) { return 0.0f; }, kNoPost)), 0.05f);
  // true_cfg 1 or no negative: no unconditional forward, the plain steps.
  o.true_cfg = 1.0f;
  const std::vector<float> plain = by_hand(x, 1, cond, nullptr, o, 0, [](int) { return 0.0f; }, kNoPost);
  EXPECT_TRUE(test::within_tolerance(sample(x, 1, cond, &neg, o), plain));
  o.true_cfg = 4.0f;
  EXPECT_TRUE(test::within_tolerance(sample(x, 1, cond, nullptr, o), plain));
}

TEST_F(FluxSampler, GuidanceIntervalAppliesCfgOnlyToItsSteps) {
  const FluxConditioning cond = conditioning(1, 11), neg = conditioning(1, 21);
  const std::vector<float> x = random(kS * 64, 31);
  FluxSamplerOptions o;
  o.steps = 5;  // progress i/4: 0, 0.25, 0.5, 0.75, 1
  o.true_cfg = 3.0f;
  o.cfg_start = 0.25f;
  o.cfg_end = 0.5f;
  std::vector<FluxStepRecord> records;
  const std::vector<float> got = sample(x, 1, cond, &neg, o, &records);
  const std::vector<bool> guided = {false, true, true, false, false};  // both boundaries included
  ASSERT_EQ(records.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(records[i].guided, guided[i]) << "step " << i;
  const auto interval = [&](int i) { return guided[static_cast<size_t>(i)] ? 3.0f : 0.0f; };
  const std::vector<float> want = by_hand(x, 1, cond, &neg, o, 0, interval, kNoPost);
  EXPECT_TRUE(test::within_tolerance(got, want));
  // Guiding every step instead gives another result.
  EXPECT_GT(max_diff(want, by_hand(x, 1, cond, &neg, o, 0, [](int) { return 3.0f; }, kNoPost)), 0.05f);
}

TEST_F(FluxSampler, CfgCurveIsLowAtBothEndsAndFullMidWay) {
  const FluxConditioning cond = conditioning(1, 12), neg = conditioning(1, 22);
  const std::vector<float> x = random(kS * 64, 32);
  FluxSamplerOptions o;
  o.steps = 5;
  o.true_cfg = 5.0f;
  o.cfg_curve = true;
  // sin(pi * i/4) at i = 0..4: 0, sqrt(1/2), 1, sqrt(1/2), 0; the scale runs 1 -> 5 -> 1.
  const float mid = 1.0f + 4.0f * std::sqrt(0.5f);
  const std::vector<float> scales = {1.0f, mid, 5.0f, mid, 1.0f};
  const std::vector<float> got = sample(x, 1, cond, &neg, o);
  const std::vector<float> want = by_hand(x, 1, cond, &neg, o, 0, [&](int i) { return scales[static_cast<size_t>(i)]; }, kNoPost);
  EXPECT_TRUE(test::within_tolerance(got, want));
  EXPECT_GT(max_diff(want, by_hand(x, 1, cond, &neg, o, 0, [](int) { return 5.0f; }, kNoPost)), 0.05f);
}

// numpy.quantile / torch.quantile 'linear' of sorted values at q in [0, 1]: rank q*(n-1) in double, the two
// values around it interpolated as numpy's _lerp does.
float linear_quantile(std::vector<float> v, double q) {
  std::sort(v.begin(), v.end());
  const double rank = q * static_cast<double>(v.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, v.size() - 1);
  const float t = static_cast<float>(rank - static_cast<double>(below)), a = v[below], b = v[above];
  const float diff = b - a;
  return t >= 0.5f ? b - diff * (1.0f - t) : a + diff * t;
}

TEST_F(FluxSampler, DynamicThresholdingClampsEachSamplesEstimateAtItsPercentile) {
  // Two samples of different scales: a percentile over the whole batch would clamp the small one at the
  // large one's level (not at all) and the large one too little.
  const int64_t B = 2;
  const FluxConditioning cond = conditioning(B, 13);
  std::vector<float> x = random(kS * 64, 33, 1.5f);
  const std::vector<float> second = random(kS * 64, 34, 6.0f);
  x.insert(x.end(), second.begin(), second.end());
  FluxSamplerOptions o;
  o.steps = 3;
  o.threshold_percentile = 90.0f;
  const auto threshold = [](std::vector<float>& v, const std::vector<float>& x, float sigma) {
    const size_t n = v.size() / 2;
    for (size_t b = 0; b < 2; ++b) {
      std::vector<float> x0(n), mag(n);
      for (size_t i = 0; i < n; ++i) {
        x0[i] = x[b * n + i] - sigma * v[b * n + i];
        mag[i] = std::fabs(x0[i]);
      }
      const float s = std::max(1.0f, linear_quantile(mag, 0.9));
      for (size_t i = 0; i < n; ++i) v[b * n + i] = (x[b * n + i] - std::clamp(x0[i], -s, s)) / sigma;
    }
  };
  const std::vector<float> got = sample(x, B, cond, nullptr, o);
  const std::vector<float> want = by_hand(x, B, cond, nullptr, o, 0, [](int) { return 0.0f; }, threshold);
  EXPECT_TRUE(test::within_tolerance(got, want));
  // Thresholding changed the result.
  EXPECT_GT(max_diff(want, by_hand(x, B, cond, nullptr, o, 0, [](int) { return 0.0f; }, kNoPost)), 0.05f);
}

TEST_F(FluxSampler, ImageToImageStartsAtTheStepItsStrengthImplies) {
  // FluxImg2ImgPipeline.get_timesteps: t_start = int(max(steps - min(steps * strength, steps), 0)) in Python
  // floats (double): 25 * 0.6 = 15.0 -> 10 (in f32, 0.6f * 25 rounds to 15.000001 -> 9); 10 * 0.35 = 3.5 -> 6.
  auto start = [](int steps, double strength) {
    FluxSamplerOptions o;
    o.steps = steps;
    o.strength = strength;
    return flux_start_step(o);
  };
  EXPECT_EQ(start(25, 0.6), 10);
  EXPECT_EQ(start(10, 0.35), 6);
  EXPECT_EQ(start(28, 0.29), 19);
  EXPECT_EQ(start(7, 0.9), 0);
  EXPECT_EQ(start(4, 1.0), 0);
  EXPECT_EQ(start(4, 0.0), 4);

  // The loop takes the steps from there on, with the schedule of the whole run.
  const FluxConditioning cond = conditioning(1, 14);
  const std::vector<float> x = random(kS * 64, 35);
  FluxSamplerOptions o;
  o.steps = 4;
  o.strength = 0.5;
  std::vector<FluxStepRecord> records;
  const std::vector<float> got = sample(x, 1, cond, nullptr, o, &records);
  const FlowMatchSchedule sched = flux_schedule(o, kH, kW);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].timestep, sched.timesteps[2]);
  EXPECT_EQ(records[1].timestep, sched.timesteps[3]);
  EXPECT_TRUE(test::within_tolerance(got, by_hand(x, 1, cond, nullptr, o, 2, [](int) { return 0.0f; }, kNoPost)));
}

TEST_F(FluxSampler, StepCacheChangeIsOneRatioOverEveryChunkOfRows) {
  // The relative L1 change of the modulated input, reduced on the device per chunk of image rows, is
  // sum|m - previous| / sum|previous| over all rows: the same whether the 19 joint rows (512 bytes each) run
  // whole or in 6 KiB buffers (spans [0, 12) with 5 image rows and [12, 19) with 7).
  const std::vector<float> x1 = random(kS * 64, 36), step = random(kS * 64, 37, 0.3f);
  std::vector<float> x2 = x1;
  for (size_t i = 0; i < x2.size(); ++i) x2[i] += step[i];
  auto change = [&](uint64_t buffer_bytes) {
    load(buffer_bytes);
    const FluxConditioning cond = conditioning(1, 15);
    FluxStepCache cache;
    cache.threshold = 1e9f;
    forward(x1, 1, cond, 900.0f, 3.5f, &cache);
    EXPECT_FALSE(cache.last_skipped);  // nothing to compare with yet
    forward(x2, 1, cond, 800.0f, 3.5f, &cache);
    EXPECT_TRUE(cache.last_skipped);
    return cache.accumulated;
  };
  const double whole = change(0), spans = change(6144);
  EXPECT_GT(whole, 0.01);
  EXPECT_LT(whole, 10.0);
  EXPECT_NEAR(spans, whole, 1e-5 * whole);
}

}  // namespace
}  // namespace lattice
