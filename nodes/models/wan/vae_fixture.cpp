// --run-fixture for AutoencoderKLWan: decode(input.latent) (raw latent, clamped output) and
// encode(input.video).latent_dist.
#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/wan/vae.h"

namespace lattice {
namespace {

FixtureOutputs run(const Fixture& fx) {
  const WanVaeConfig config = wan_vae_config_from_json(fx.config());
  WeightSource src = fixture_weights(fx);
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(src, ctx);
  WanVae vae(config, weights);
  FixtureOutputs out;
  if (fx.has("input.latent")) {
    gpu::CommandStream s(ctx);
    out.emplace_back("output.decoded", vae.decode(s, upload_fixture_tensor(ctx, fx, "input.latent")));
  }
  if (fx.has("input.video")) {
    gpu::CommandStream s(ctx);
    auto [mean, logvar] = vae.encode(s, upload_fixture_tensor(ctx, fx, "input.video"));
    s.finish();
    out.emplace_back("output.encoded_mean", HostTensor::from_f32(mean.shape(), mean.to_floats()));
    out.emplace_back("output.encoded_logvar", HostTensor::from_f32(logvar.shape(), logvar.to_floats()));
  }
  return out;
}

const FixtureRegistrar reg("AutoencoderKLWan", run);

}  // namespace
}  // namespace lattice
