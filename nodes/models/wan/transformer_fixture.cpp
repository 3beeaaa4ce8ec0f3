// --run-fixture for WanTransformer3DModel: one forward from the stored config, weights and inputs.
#include "nodes/models/fixture_device.h"
#include "nodes/models/wan/transformer.h"

namespace lattice {

namespace {

FixtureOutputs run(const Fixture& fx) {
  const WanConfig config = wan_config_from_json(fx.config());
  FixtureShapes shapes(fx);
  shapes.need("input.hidden_states", {"B", config.in_channels, "F", "H", "W"})
      .need("input.timestep", {"B"})
      .need("input.encoder_hidden_states", {"B", "L", config.text_dim})
      .need("output.sample", {"B", config.out_channels, shapes["F"], shapes["H"], shapes["W"]});
  if (config.image_to_video())
    shapes.need("input.encoder_hidden_states_image", {"B", FixtureShapes::kAnyDim, config.image_dim});
  else if (fx.has("input.encoder_hidden_states_image"))
    fx.refuse("input.encoder_hidden_states_image is given but the config has no image_dim (text-to-video)");
  FixtureDevice dev(fx, wan_checkpoint_shapes(config));
  gpu::Context& ctx = dev.ctx;
  WanTransformer model(config, dev.weights);

  gpu::CommandStream s(ctx);
  const gpu::Tensor image =
      fx.has("input.encoder_hidden_states_image") ? upload_fixture_tensor(ctx, fx, "input.encoder_hidden_states_image") : gpu::Tensor{};
  gpu::Tensor out = model.forward(s, upload_fixture_tensor(ctx, fx, "input.hidden_states"), fx.f32("input.timestep"),
                                  upload_fixture_tensor(ctx, fx, "input.encoder_hidden_states"), image);
  s.finish();
  return {{"output.sample", fixture_output(out)}};
}

const FixtureRegistrar reg("WanTransformer3DModel", run);

}  // namespace
}  // namespace lattice
