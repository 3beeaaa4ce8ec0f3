// --run-fixture for FlowMatchEulerDiscreteScheduler: the schedule cases and the Euler steps.
#include "core/error.h"
#include "nodes/models/fixture.h"
#include "nodes/models/flow_match.h"

namespace lattice {
namespace {

HostTensor vec(const std::vector<float>& v) { return HostTensor::from_f32({static_cast<int64_t>(v.size())}, v); }

FlowMatchSchedule schedule_for(const FlowMatchConfig& c, const nlohmann::json& spec) {
  const int steps = spec.at("steps").get<int>();
  if (steps < 1) throw_invalid("FlowMatchEulerDiscreteScheduler: steps must be at least 1");
  const int seq = spec.value("image_seq_len", 0);
  std::optional<double> mu;
  if (c.use_dynamic_shifting) mu = flow_match_mu(c, seq);
  if (spec.value("pipeline_sigmas", true)) return flow_match_schedule(c, flow_match_pipeline_sigmas(steps), mu);
  return flow_match_schedule_default(c, steps, mu);
}

FixtureOutputs run(const Fixture& fx) {
  FixtureOutputs out;
  const auto& r = fx.run();
  if (r.contains("cases")) {
    for (size_t i = 0; i < r["cases"].size(); ++i) {
      const auto& spec = r["cases"][i];
      const FlowMatchConfig c = flow_match_config_from_json(spec.contains("config") ? spec["config"] : fx.config());
      const auto s = schedule_for(c, spec);
      const std::string p = "output.case" + std::to_string(i) + ".";
      out.emplace_back(p + "sigmas", vec(s.sigmas));
      out.emplace_back(p + "timesteps", vec(s.timesteps));
    }
  }
  if (r.contains("euler")) {
    const auto& spec = r["euler"];
    const FlowMatchConfig c = flow_match_config_from_json(fx.config());
    const auto s = schedule_for(c, spec);
    out.emplace_back("output.euler.sigmas", vec(s.sigmas));
    out.emplace_back("output.euler.timesteps", vec(s.timesteps));
    HostTensor sample = fx.tensor("input.euler.sample");
    std::vector<float> x = sample.to_f32();
    for (size_t k = 0; k + 1 < s.sigmas.size(); ++k) {
      const std::string v = "input.euler.model_output." + std::to_string(k);
      if (!fx.has(v)) break;
      flow_match_euler_step(x, fx.f32(v), s.sigmas[k], s.sigmas[k + 1]);
      out.emplace_back("output.euler.prev_sample." + std::to_string(k), HostTensor::from_f32(sample.shape, x));
    }
  }
  return out;
}

const FixtureRegistrar reg("FlowMatchEulerDiscreteScheduler", run);

}  // namespace
}  // namespace lattice
