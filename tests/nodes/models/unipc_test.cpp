// UniPC (nodes/models/unipc.h): the same solver on the device equals the host one on the golden fixture's cases;
// order 1 without corrector is exactly the flow-match Euler step; starting mid-schedule; refused configurations.
// (The host solver against diffusers is tests/nodes/models/fixture_test.cpp, Fixture.UniPcMultistepScheduler.)
#include "nodes/models/unipc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

std::vector<float> random_values(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& ref, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  float max_ref = 0, max_err = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << "[" << i << "]";
    max_ref = std::max(max_ref, std::fabs(ref[i]));
    max_err = std::max(max_err, std::fabs(got[i] - ref[i]));
  }
  EXPECT_LE(max_err, 1e-5f * std::max(1.0f, max_ref)) << what;
}

TEST(UniPc, DeviceStepsEqualHostStepsOnEveryFixtureCase) {
  const Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/unipc_multistep_scheduler.safetensors");
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  const auto& cases = fx.run().at("cases");
  ASSERT_GE(cases.size(), 5u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& cfg = cases[i].at("config");
    UniPcConfig c;
    c.flow_shift = cfg.at("flow_shift").get<double>();
    c.solver_order = cfg.at("solver_order").get<int>();
    c.disable_corrector = cfg.at("disable_corrector").get<std::vector<int>>();
    const FlowMatchSchedule s = unipc_flow_schedule(c, cases[i].at("steps").get<int>());
    const std::string p = "input.case" + std::to_string(i) + ".";
    const HostTensor start = fx.tensor(p + "sample");
    UniPcSolver<std::vector<float>> host(c, s.sigmas, unipc_update_host);
    gpu::CommandStream* stream = nullptr;
    UniPcSolver<gpu::Tensor> device(c, s.sigmas, [&](const UniPcStepPlan& p, const UniPcStepInputs<gpu::Tensor>& in) {
      return unipc_update_device(*stream, p, in);
    });
    std::vector<float> xh = start.to_f32();
    gpu::Tensor xd = gpu::Tensor::from_floats(ctx, xh, gpu::Shape(start.shape.begin(), start.shape.end()));
    for (size_t k = 0; k < s.timesteps.size(); ++k) {
      const std::vector<float> v = fx.f32(p + "model_output." + std::to_string(k));
      xh = host.step(v, xh);
      gpu::CommandStream cs(ctx);
      stream = &cs;
      xd = device.step(gpu::Tensor::from_floats(ctx, v, xd.shape()), xd);
      cs.finish();
      expect_close(xd.to_floats(), xh, "case " + std::to_string(i) + " step " + std::to_string(k));
    }
  }
}

TEST(UniPc, OrderOneWithoutCorrectorIsTheEulerStep) {
  // UniP-1 in data prediction is DDIM, which for flow matching is x + (sigma_next − sigma)·v.
  UniPcConfig c;
  c.flow_shift = 3.0;
  c.solver_order = 1;
  const int steps = 6;
  for (int k = 0; k < steps; ++k) c.disable_corrector.push_back(k);
  const FlowMatchSchedule s = unipc_flow_schedule(c, steps);
  UniPcSolver<std::vector<float>> solver(c, s.sigmas, unipc_update_host);
  std::vector<float> x = random_values(40, 1), euler = x;
  for (int k = 0; k < steps; ++k) {
    const std::vector<float> v = random_values(40, 100 + static_cast<unsigned>(k));
    x = solver.step(v, x);
    flow_match_euler_step(euler, v, s.sigmas[static_cast<size_t>(k)], s.sigmas[static_cast<size_t>(k + 1)]);
    expect_close(x, euler, "step " + std::to_string(k));
  }
}

TEST(UniPc, CorrectorAndSecondOrderChangeTheResult) {
  // Order 2 with the corrector must differ from Euler after the first step (which both take at order 1).
  UniPcConfig c;
  c.flow_shift = 5.0;
  const FlowMatchSchedule s = unipc_flow_schedule(c, 5);
  UniPcSolver<std::vector<float>> solver(c, s.sigmas, unipc_update_host);
  std::vector<float> x = random_values(16, 2), euler = x;
  for (int k = 0; k < 2; ++k) {
    const std::vector<float> v = random_values(16, 200 + static_cast<unsigned>(k));
    x = solver.step(v, x);
    flow_match_euler_step(euler, v, s.sigmas[static_cast<size_t>(k)], s.sigmas[static_cast<size_t>(k + 1)]);
    if (k == 0) expect_close(x, euler, "first step");
  }
  float diff = 0;
  for (size_t i = 0; i < x.size(); ++i) diff = std::max(diff, std::fabs(x[i] - euler[i]));
  EXPECT_GT(diff, 1e-3f);
}

TEST(UniPc, LastStepReturnsTheDataEstimate) {
  // Final sigma 0 at order 1: x' = x − sigma·v exactly (no corrector on a 1-step schedule).
  UniPcConfig c;
  c.flow_shift = 3.0;
  const FlowMatchSchedule s = unipc_flow_schedule(c, 1);
  ASSERT_EQ(s.sigmas.size(), 2u);
  EXPECT_EQ(s.timesteps[0], std::trunc(s.timesteps[0]));
  UniPcSolver<std::vector<float>> solver(c, s.sigmas, unipc_update_host);
  const std::vector<float> x = random_values(8, 3), v = random_values(8, 4);
  const std::vector<float> got = solver.step(v, x);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(got[i], x[i] - s.sigmas[0] * v[i], 1e-6f);
}

TEST(UniPc, BeginIndexStartsWithoutHistory) {
  UniPcConfig c;
  c.flow_shift = 3.0;
  const FlowMatchSchedule s = unipc_flow_schedule(c, 8);
  UniPcPlanner from3(c, s.sigmas);
  from3.set_begin_index(3);
  const UniPcStepPlan p = from3.next();
  EXPECT_FALSE(p.correct);
  EXPECT_TRUE(p.predictor.history.empty());  // order 1: no earlier estimate
  EXPECT_EQ(p.convert, s.sigmas[3]);
  const UniPcStepPlan q = from3.next();
  EXPECT_TRUE(q.correct);
  EXPECT_EQ(q.predictor.history.size(), 1u);  // order 2 from here
  EXPECT_THROW(from3.set_begin_index(0), Error);
}

TEST(UniPc, UnsupportedConfigurationsAreRefused) {
  auto refused = [](UniPcConfig c, std::vector<float> sigmas) {
    try {
      UniPcPlanner p(c, std::move(sigmas));
      return false;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
      return true;
    }
  };
  const std::vector<float> good = {0.9f, 0.5f, 0.0f};
  UniPcConfig c;
  EXPECT_FALSE(refused(c, good));
  EXPECT_TRUE(refused(c, {1.0f, 0.5f, 0.0f}));  // FLUX / LTX-Video start at sigma 1: infinite log-SNR
  EXPECT_TRUE(refused(c, {0.9f, 0.5f}));        // does not end at 0
  EXPECT_TRUE(refused(c, {0.0f}));              // no step
  UniPcConfig order4 = c;
  order4.solver_order = 4;
  EXPECT_TRUE(refused(order4, good));
  UniPcConfig no_lower = c;
  no_lower.lower_order_final = false;
  EXPECT_TRUE(refused(no_lower, good));
  no_lower.solver_order = 1;
  EXPECT_FALSE(refused(no_lower, good));
  EXPECT_THROW(unipc_flow_schedule(c, 0), Error);
  UniPcPlanner done(c, good);
  done.next();
  done.next();
  EXPECT_THROW(done.next(), Error);
}

}  // namespace
}  // namespace lattice
