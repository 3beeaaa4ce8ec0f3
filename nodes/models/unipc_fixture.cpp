// --run-fixture for UniPCMultistepScheduler (flow sigmas, flow prediction): every case's schedule and every step's
// sample, from the stored start sample and model outputs.
#include "core/error.h"
#include "nodes/models/fixture.h"
#include "nodes/models/unipc.h"

namespace lattice {
namespace {

UniPcConfig config_from_json(const nlohmann::json& j) {
  auto require = [&](const char* key, const nlohmann::json& want) {
    if (j.contains(key) && j[key] != want)
      throw_invalid(std::string("UniPCMultistepScheduler: only ") + key + " = " + want.dump() + " is supported, got " +
                    j[key].dump());
  };
  require("prediction_type", "flow_prediction");
  require("use_flow_sigmas", true);
  require("predict_x0", true);
  require("final_sigmas_type", "zero");
  require("thresholding", false);
  require("use_dynamic_shifting", false);
  for (const char* off : {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"}) require(off, false);
  if (j.contains("solver_p") && !j["solver_p"].is_null()) throw_invalid("UniPCMultistepScheduler: solver_p is not supported");
  const std::string type = j.value("solver_type", std::string("bh2"));
  if (type == "bh1") throw_invalid("UniPCMultistepScheduler: solver_type 'bh1' is not supported (NaN on the last step to sigma 0)");
  if (type != "bh2" && type != "midpoint" && type != "heun" && type != "logrho")  // the reference maps these to bh2
    throw_invalid("UniPCMultistepScheduler: unknown solver_type '" + type + "'");
  UniPcConfig c;
  c.num_train_timesteps = j.value("num_train_timesteps", 1000);
  c.flow_shift = j.value("flow_shift", 1.0);
  c.solver_order = j.value("solver_order", 2);
  c.lower_order_final = j.value("lower_order_final", true);
  if (j.contains("disable_corrector")) c.disable_corrector = j["disable_corrector"].get<std::vector<int>>();
  if (c.num_train_timesteps < 1 || !(c.flow_shift > 0.0) || c.solver_order < 1 || c.solver_order > 4)
    throw_invalid("UniPCMultistepScheduler: num_train_timesteps must be at least 1, flow_shift positive and solver_order 1 to 4");
  return c;
}

HostTensor vec(const std::vector<float>& v) { return HostTensor::from_f32({static_cast<int64_t>(v.size())}, v); }

FixtureOutputs run(const Fixture& fx) {
  FixtureOutputs out;
  const auto& cases = fx.run().at("cases");
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& spec = cases[i];
    const UniPcConfig c = config_from_json(spec.contains("config") ? spec["config"] : fx.config());
    const FlowMatchSchedule s = unipc_flow_schedule(c, spec.at("steps").get<int>());
    const std::string p = "case" + std::to_string(i) + ".";
    out.emplace_back("output." + p + "sigmas", vec(s.sigmas));
    out.emplace_back("output." + p + "timesteps", vec(s.timesteps));
    if (!fx.has("input." + p + "sample")) continue;
    const HostTensor sample = fx.tensor("input." + p + "sample");
    FixtureShapes shapes(fx);
    for (size_t k = 0; k < s.timesteps.size(); ++k)
      shapes.need("input." + p + "model_output." + std::to_string(k), std::vector<FixtureShapes::Dim>(sample.shape.begin(), sample.shape.end()));
    UniPcSolver<std::vector<float>> solver(c, s.sigmas, unipc_update_host);
    std::vector<float> x = sample.to_f32();
    for (size_t k = 0; k < s.timesteps.size(); ++k) {
      x = solver.step(fx.f32("input." + p + "model_output." + std::to_string(k)), x);
      out.emplace_back("output." + p + "prev_sample." + std::to_string(k), HostTensor::from_f32(sample.shape, x));
    }
  }
  return out;
}

const FixtureRegistrar reg("UniPCMultistepScheduler", run);

}  // namespace
}  // namespace lattice
