// --run-fixture for WanTransformer3DModel: one forward from the stored config, weights and inputs.
#include "nodes/models/fixture_device.h"
#include "nodes/models/wan/transformer.h"

namespace lattice {

namespace {

FixtureOutputs run(const Fixture& fx) {
  const WanConfig config = wan_config_from_json(fx.config());
  FixtureDevice dev(fx);
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
