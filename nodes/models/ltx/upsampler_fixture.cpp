// --run-fixture for LTXLatentUpsamplerModel: forward(input.latent) from the stored config and weights.
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/ltx/upsampler.h"

namespace lattice {

namespace {

FixtureOutputs run(const Fixture& fx) {
  const LtxUpsamplerConfig config = ltx_upsampler_config_from_json(fx.config());
  WeightSource src = fixture_weights(fx);
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(src, ctx);
  LtxLatentUpsampler model(config, weights);
  gpu::CommandStream s(ctx);
  const gpu::Tensor out = model.forward(s, upload_fixture_tensor(ctx, fx, "input.latent"));
  s.finish();
  return {{"output.upsampled", HostTensor::from_f32(out.shape(), out.to_floats())}};
}

const FixtureRegistrar reg("LTXLatentUpsamplerModel", run);

}  // namespace
}  // namespace lattice
