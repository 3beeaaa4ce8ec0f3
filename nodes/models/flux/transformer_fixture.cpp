// --run-fixture for FluxTransformer2DModel: one forward from the stored config, weights and inputs.
#include "core/error.h"
#include "nodes/models/fixture_device.h"
#include "nodes/models/flux/transformer.h"
#include "gpu/ops/rope.h"
#include "nodes/models/flux/config.h"

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

const FixtureRegistrar reg("FluxTransformer2DModel", run);

}  // namespace
}  // namespace lattice
