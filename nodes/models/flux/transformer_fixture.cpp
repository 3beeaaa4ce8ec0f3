// --run-fixture for FluxTransformer2DModel: one forward from the stored config, weights and inputs; and for
// FluxControl, the structural-control variant and its control LoRA (below).
#include "core/error.h"
#include "nodes/models/fixture_device.h"
#include "nodes/models/flux/transformer.h"
#include "gpu/ops/rope.h"
#include "gpu/ops/patchify.h"
#include "nodes/models/flux/config.h"
#include "nodes/models/flux/sampler.h"
#include "nodes/models/lora.h"

namespace lattice {

namespace {

// The packed token grid and text length in run, where the fixture states them, must be the tensors' own.
void bind_run_sizes(const Fixture& fx, FixtureShapes& shapes) {
  const auto& r = fx.run();
  if (r.contains("batch")) shapes.bind("B", r["batch"].get<int64_t>(), "run.batch");
  if (r.contains("latent_h") || r.contains("latent_w"))
    shapes.bind("S", (r.at("latent_h").get<int64_t>() / 2) * (r.at("latent_w").get<int64_t>() / 2), "run.latent_h/latent_w");
  if (r.contains("txt_len")) shapes.bind("L", r["txt_len"].get<int64_t>(), "run.txt_len");
  if (r.value("ids_ndim", 2) != 2) fx.refuse("only 2-D ids are supported (run.ids_ndim 2)");
}

// The inputs and reference output of one forward besides its hidden states ([B, S, in_channels]).
void check_forward_shapes(const Fixture& fx, const FluxConfig& config, FixtureShapes& shapes) {
  bind_run_sizes(fx, shapes);
  shapes.need("input.encoder_hidden_states", {"B", "L", config.joint_attention_dim})
      .need("input.pooled_projections", {"B", config.pooled_projection_dim})
      .need("input.timestep", {"B"})
      .need("input.img_ids", {"S", 3})
      .need("input.txt_ids", {"L", 3})
      .need("output.sample", {"B", "S", config.out_channels});
  if (config.guidance_embeds) shapes.need("input.guidance", {"B"});
}

// One forward of `hidden` [B, S, in_channels] with the fixture's text, pooled, timestep, guidance and ids.
HostTensor forward(const Fixture& fx, FluxTransformer& model, gpu::Context& ctx, gpu::CommandStream& s, const gpu::Tensor& hidden) {
  const FluxConfig& config = model.config();
  std::vector<float> ids = fx.f32("input.txt_ids");
  const auto img = fx.f32("input.img_ids");
  ids.insert(ids.end(), img.begin(), img.end());
  const int64_t tokens = static_cast<int64_t>(ids.size() / 3);
  const int64_t axes[3] = {config.axes_dims_rope[0], config.axes_dims_rope[1], config.axes_dims_rope[2]};
  const gpu::RopeTables rope = gpu::flux_rope_tables(ids, axes);
  auto upload = [&](const char* name) { return upload_fixture_tensor(ctx, fx, name); };
  gpu::Tensor out = model.forward(s, hidden, upload("input.encoder_hidden_states"), upload("input.pooled_projections"),
                                  fx.f32("input.timestep"), fx.has("input.guidance") ? fx.f32("input.guidance") : std::vector<float>{},
                                  gpu::Tensor::from_floats(ctx, rope.cos, {tokens, rope.width}),
                                  gpu::Tensor::from_floats(ctx, rope.sin, {tokens, rope.width}));
  s.finish();
  return fixture_output(out);
}

FixtureOutputs run(const Fixture& fx) {
  const FluxConfig config = flux_config_from_json(fx.config());
  FixtureShapes shapes(fx);
  check_forward_shapes(fx, config, shapes);
  shapes.need("input.hidden_states", {"B", "S", config.in_channels});
  FixtureDevice dev(fx, flux_checkpoint_shapes(config));
  FluxTransformer model(config, dev.weights);
  gpu::CommandStream s(dev.ctx);
  return {{"output.sample", forward(fx, model, dev.ctx, s, upload_fixture_tensor(dev.ctx, fx, "input.hidden_states"))}};
}

// FluxControl (tools/make_flux_control_fixture.py): a structural-control FLUX (config: in_channels twice
// out_channels) whose x_embedder is control.x_embedder.weight over the base model's weights.*; output.hidden_states
// is its input (packed input.latents and input.control concatenated on channels, flux_control_input),
// output.sample its forward; output.merged.<name> are the base model's tensors after the control LoRA of
// lora_diffusers.* (else lora_bfl.*) at run.strength (apply_flux_lora).
FixtureOutputs run_control(const Fixture& fx) {
  const FluxConfig config = flux_config_from_json(fx.config());
  if (config.control_channels() == 0)
    fx.refuse("config's in_channels " + std::to_string(config.in_channels) + " is not twice out_channels " +
              std::to_string(config.out_channels) + ": not a structural-control FLUX");
  FluxConfig base_config = config;
  base_config.in_channels = config.out_channels;
  FixtureShapes shapes(fx);
  shapes.need("input.latents", {"B", config.out_channels / 4, "h", "w"}).need("input.control", {"B", config.out_channels / 4, "h", "w"});
  shapes.bind("S", (shapes["h"] / 2) * (shapes["w"] / 2), "input.latents (packed 2x2)");
  check_forward_shapes(fx, config, shapes);
  shapes.need("output.hidden_states", {"B", "S", config.in_channels})
      .need("control.x_embedder.weight", {config.inner_dim(), config.in_channels});
  check_fixture_weights(fx, flux_checkpoint_shapes(base_config));

  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  FixtureOutputs out;
  {
    WeightSource w = fixture_weights(fx);
    w.remove("x_embedder.weight");
    w.add_owned("x_embedder.weight", fx.tensor("control.x_embedder.weight"));
    DeviceWeights dw(w, ctx);
    FluxTransformer model(config, dw);
    gpu::CommandStream s(ctx);
    const gpu::Tensor x = flux_control_input(s, gpu::pack_latents(s, upload_fixture_tensor(ctx, fx, "input.latents")),
                                             gpu::pack_latents(s, upload_fixture_tensor(ctx, fx, "input.control")));
    out.emplace_back("output.sample", forward(fx, model, ctx, s, x));
    out.emplace_back("output.hidden_states", fixture_output(x));
  }
  const std::string naming = fx.has("lora_diffusers.transformer.x_embedder.lora_A.weight") ? "lora_diffusers." : "lora_bfl.";
  const WeightSource lora = fixture_weights(fx, naming);
  if (!lora.names().empty()) {
    const auto base = std::make_shared<WeightSource>(fixture_weights(fx));
    const FluxLoraResult r = apply_flux_lora(lora, base, nullptr, fx.run().at("strength").get<float>());
    DeviceWeights dw(*r.weights, ctx, std::make_shared<WeightPatches>(r.patches));
    for (const std::string& name : fx.output_names()) {
      if (name.rfind("output.merged.", 0) != 0) continue;
      const std::string key = name.substr(14);
      if (!r.weights->has(key)) fx.refuse("'" + name + "' names no tensor of the model");
      const std::vector<int64_t>& shape = r.weights->info(key).shape;
      out.emplace_back(name, HostTensor::from_f32(shape, shape.size() == 2 ? dw.matrix(key).to_floats() : dw.f32(key).to_floats()));
    }
  }
  return out;
}

const FixtureRegistrar reg("FluxTransformer2DModel", run);
const FixtureRegistrar reg_control("FluxControl", run_control);

}  // namespace
}  // namespace lattice
