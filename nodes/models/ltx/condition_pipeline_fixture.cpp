// --run-fixture for LTXConditionPipeline (tools/ltx_condition_fixture.py): the conditioning and denoising loop from
// given latents, on the stored transformer (config.transformer, weights.transformer.*) and scheduler
// (config.scheduler, read as the FlowMatchEulerDiscreteScheduler runner reads it). Each case (run, and run.b when
// present, with tensors input.b.* and outputs output.b.*) gives the prepared tokens, the tokens after each step
// and the final latents; output.linear_quadratic.N is the pipeline's default schedule for N steps
// (run.linear_quadratic_steps).
#include "core/error.h"
#include "nodes/models/fixture_device.h"
#include "nodes/models/flow_match.h"
#include "nodes/models/ltx/config.h"
#include "nodes/models/ltx/sampler.h"

namespace lattice {

namespace {

HostTensor vec(const std::vector<float>& v) { return HostTensor::from_f32({static_cast<int64_t>(v.size())}, v); }

struct Setup {
  LtxTransformerConfig config;
  FlowMatchConfig schedule;
  std::array<int64_t, 3> fhw{};
};

// One case: `p` is its tensors' infix ("" or "b."), `r` its run parameters (falling back to the top level's).
void run_case(const Fixture& fx, const Setup& st, LtxTransformer& model, gpu::Context& ctx, const LtxConditioning& cond,
              const std::string& p, const nlohmann::json& r, FixtureOutputs& out) {
  const nlohmann::json& top = fx.run();
  auto param = [&](const char* key) -> const nlohmann::json& { return r.contains(key) ? r[key] : top.at(key); };
  LtxSamplerOptions o;
  o.schedule = st.schedule;
  o.steps = param("steps").get<int>();
  o.guidance = param("guidance").get<float>();
  o.frame_rate = param("frame_rate").get<float>();
  o.strength = r.value("denoise_strength", 1.0f);
  const std::string schedule = r.value("schedule", std::string("ltx"));
  if (schedule != "ltx" && schedule != "linear_quadratic")
    fx.refuse("run" + (p.empty() ? std::string() : "." + p.substr(0, p.size() - 1)) + ".schedule '" + schedule +
              "' is not supported (ltx or linear_quadratic)");
  o.linear_quadratic = schedule == "linear_quadratic";
  if (o.steps < 1) fx.refuse("run " + p + "steps is " + std::to_string(o.steps) + "; it must be at least 1");

  const int64_t C = st.config.in_channels, F = st.fhw[0], h = st.fhw[1], w = st.fhw[2];
  FixtureShapes shapes(fx);
  shapes.need("input." + p + "noise", {1, C, F, h, w});
  const bool refine = shapes.optional("input." + p + "start", {1, C, F, h, w});
  const std::string N = p + "tokens";
  for (int k = 1; fx.has("output." + p + "step." + std::to_string(k)); ++k) shapes.need("output." + p + "step." + std::to_string(k), {1, N, C});
  shapes.optional("output." + p + "prepared.latents", {1, N, C});
  shapes.optional("output." + p + "prepared.mask", {1, N});
  shapes.optional("output." + p + "prepared.coords", {1, 3, N});
  shapes.optional("output." + p + "latents", {1, C, F, h, w});

  std::vector<LtxCondition> conditions;
  const nlohmann::json& specs = param("conditions");
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string c = "input." + p + "condition." + std::to_string(i) + ".";
    LtxCondition k;
    shapes.need(c + "latent", {1, C, FixtureShapes::kAnyDim, h, w});
    k.latent = upload_fixture_tensor(ctx, fx, c + "latent");
    if (shapes.optional(c + "noise", {1, C, FixtureShapes::kAnyDim, h, w})) k.noise = upload_fixture_tensor(ctx, fx, c + "noise");
    k.frame_index = specs[i].at("frame_index").get<int>();
    k.strength = specs[i].at("strength").get<float>();
    conditions.push_back(std::move(k));
  }
  const gpu::Tensor noise = upload_fixture_tensor(ctx, fx, "input." + p + "noise");
  const gpu::Tensor start = refine ? upload_fixture_tensor(ctx, fx, "input." + p + "start") : gpu::Tensor{};

  const LtxConditionedTokens prepared = ltx_prepare_conditioned(st.config, ctx, noise, o, conditions, start);
  const int64_t n = static_cast<int64_t>(prepared.mask.size());
  std::vector<float> coords(static_cast<size_t>(3 * n));  // [1, 3, N]
  for (int64_t k = 0; k < n; ++k)
    for (int64_t a = 0; a < 3; ++a) coords[static_cast<size_t>(a * n + k)] = prepared.coords[static_cast<size_t>(k)][static_cast<size_t>(a)];
  out.emplace_back("output." + p + "prepared.latents", HostTensor::from_f32({1, n, C}, prepared.packed));
  out.emplace_back("output." + p + "prepared.mask", HostTensor::from_f32({1, n}, prepared.mask));
  out.emplace_back("output." + p + "prepared.coords", HostTensor::from_f32({1, 3, n}, coords));

  // The negative pass (guidance > 1): the same states under input.negative_mask, as the fixture's pipeline ran it.
  LtxConditioning negative = cond;
  if (o.guidance > 1.0f) {
    shapes.need("input.negative_mask", {1, static_cast<int64_t>(cond.mask.size())});
    negative.mask = fx.f32("input.negative_mask");
  }
  const gpu::Tensor latents = ltx_sample_conditioned(
      model, ctx, noise, cond, o.guidance > 1.0f ? &negative : nullptr, o, conditions, {}, start,
      [&](int step, int, const gpu::Tensor& tokens) { out.emplace_back("output." + p + "step." + std::to_string(step), fixture_output(tokens)); });
  out.emplace_back("output." + p + "latents", fixture_output(latents));
}

FixtureOutputs run(const Fixture& fx) {
  Setup st;
  st.config = ltx_transformer_config_from_json(fx.config().at("transformer"));
  st.schedule = flow_match_config_from_json(fx.config().at("scheduler"));  // refuses what the schedule does not implement
  for (size_t i = 0; i < 3; ++i) st.fhw[i] = fx.run().at("latent_fhw").at(i).get<int64_t>();
  if (st.fhw[0] < 1 || st.fhw[1] < 1 || st.fhw[2] < 1) fx.refuse("run.latent_fhw must be positive");
  if (st.config.in_channels != st.config.out_channels)
    fx.refuse("config.transformer's in_channels and out_channels differ: the loop steps the latents by the prediction");

  FixtureShapes shapes(fx);
  shapes.need("input.encoder_hidden_states", {1, "L", st.config.caption_channels}).need("input.encoder_attention_mask", {1, "L"});
  check_fixture_weights(fx, prefixed(ltx_checkpoint_shapes(st.config), "transformer."));
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  WeightSource src = fixture_weights(fx, "weights.transformer.");
  DeviceWeights weights(src, ctx);
  LtxTransformer model(st.config, weights);
  const LtxConditioning cond{upload_fixture_tensor(ctx, fx, "input.encoder_hidden_states"), fx.f32("input.encoder_attention_mask")};

  FixtureOutputs out;
  for (const auto& n : fx.run().value("linear_quadratic_steps", std::vector<int>{})) {
    LtxSamplerOptions o;
    o.schedule = st.schedule;
    o.linear_quadratic = true;
    o.steps = n;
    out.emplace_back("output.linear_quadratic." + std::to_string(n), vec(ltx_schedule(o, st.fhw[0] * st.fhw[1] * st.fhw[2]).sigmas));
  }
  run_case(fx, st, model, ctx, cond, "", fx.run(), out);
  if (fx.run().contains("b")) run_case(fx, st, model, ctx, cond, "b.", fx.run()["b"], out);
  return out;
}

const FixtureRegistrar reg("LTXConditionPipeline", run);

}  // namespace
}  // namespace lattice
