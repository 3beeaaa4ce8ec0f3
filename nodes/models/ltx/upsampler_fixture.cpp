// --run-fixture for LTXLatentUpsamplerModel: forward(input.latent) from the stored config and weights.
#include "nodes/models/fixture_device.h"
#include "nodes/models/ltx/upsampler.h"

namespace lattice {

namespace {

FixtureOutputs run(const Fixture& fx) {
  const LtxUpsamplerConfig config = ltx_upsampler_config_from_json(fx.config());
  config.validate();
  FixtureShapes shapes(fx);
  shapes.need("input.latent", {"B", config.in_channels, "F", "h", "w"});
  const int64_t F = config.temporal_upsample ? 2 * shapes["F"] - 1 : shapes["F"], up = config.spatial_upsample ? 2 : 1;
  shapes.need("output.upsampled", {"B", config.in_channels, F, up * shapes["h"], up * shapes["w"]});
  FixtureDevice dev(fx, ltx_upsampler_checkpoint_shapes(config));
  gpu::Context& ctx = dev.ctx;
  LtxLatentUpsampler model(config, dev.weights);
  gpu::CommandStream s(ctx);
  const gpu::Tensor out = model.forward(s, upload_fixture_tensor(ctx, fx, "input.latent"));
  s.finish();
  return {{"output.upsampled", fixture_output(out)}};
}

const FixtureRegistrar reg("LTXLatentUpsamplerModel", run);

}  // namespace
}  // namespace lattice
