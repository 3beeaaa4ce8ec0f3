// The scheduler's share of a Wan sampling step on the device, for a 480p latent [1, 16, 21, 60, 104] (2.1 M
// values): three steps of UniPC (order 1, then order 2 with the corrector, then to sigma 0; nodes/models/unipc.h)
// against three flow-match Euler steps (the baseline, same run). One submission per step, as the sampler does.
// The ratio says what UniPC adds per step; a Wan transformer forward at this size costs far more than either.
#include <benchmark/benchmark.h>

#include <random>

#include "gpu/ops/binary.h"
#include "nodes/gpu_service.h"
#include "nodes/models/unipc.h"

namespace lattice {
namespace {

const gpu::Shape kLatent = {1, 16, 21, 60, 104};

struct Inputs {
  gpu::Tensor x, v;
};

Inputs inputs(gpu::Context& ctx) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  std::vector<float> x(16 * 21 * 60 * 104), v(x.size());
  for (float& f : x) f = nd(rng);
  for (float& f : v) f = nd(rng);
  return {gpu::Tensor::from_floats(ctx, x, kLatent), gpu::Tensor::from_floats(ctx, v, kLatent)};
}

UniPcConfig config() {
  UniPcConfig c;
  c.flow_shift = 3.0;
  return c;
}

void BM_EulerSteps(benchmark::State& state) {
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  const Inputs in = inputs(ctx);
  const FlowMatchSchedule s = unipc_flow_schedule(config(), 3);
  for (auto _ : state) {
    gpu::Tensor x = in.x;
    for (size_t k = 0; k < 3; ++k) {
      gpu::CommandStream cs(ctx);
      const float dt = s.sigmas[k + 1] - s.sigmas[k];
      x = gpu::add(cs, x, gpu::mul(cs, in.v, gpu::Tensor::from_floats(ctx, std::vector<float>{dt}, {1})));
      cs.finish();
    }
  }
}
BENCHMARK(BM_EulerSteps)->Name("scheduler/euler_3_steps/wan480p/vulkan")->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_UniPcSteps(benchmark::State& state) {
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  const Inputs in = inputs(ctx);
  const FlowMatchSchedule s = unipc_flow_schedule(config(), 3);
  for (auto _ : state) {
    gpu::CommandStream* stream = nullptr;
    UniPcSolver<gpu::Tensor> solver(config(), s.sigmas,
                                    [&](const UniPcStepPlan& p, const UniPcStepInputs<gpu::Tensor>& in) {
                                      return unipc_update_device(*stream, p, in);
                                    });
    gpu::Tensor x = in.x;
    for (int k = 0; k < 3; ++k) {
      gpu::CommandStream cs(ctx);
      stream = &cs;
      x = solver.step(in.v, x);
      cs.finish();
    }
  }
}
BENCHMARK(BM_UniPcSteps)->Name("scheduler/unipc_3_steps/wan480p/vulkan")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace lattice
