// --run-fixture for AutoencoderKLLTXVideo: decode(input.latent, input.decode_timestep) and
// encode(input.video).latent_dist from the stored config and weights.
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/ltx/vae.h"

namespace lattice {

namespace {

FixtureOutputs run(const Fixture& fx) {
  const LtxVaeConfig config = ltx_vae_config_from_json(fx.config());
  WeightSource src = fixture_weights(fx);
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(src, ctx);
  LtxVae vae(config, weights);

  FixtureOutputs out;
  if (fx.has("input.latent")) {
    const std::vector<float> t = fx.has("input.decode_timestep") ? fx.f32("input.decode_timestep") : std::vector<float>{};
    gpu::CommandStream s(ctx);
    const gpu::Tensor video = vae.decode(s, upload_fixture_tensor(ctx, fx, "input.latent"), t);
    s.finish();
    out.emplace_back("output.decoded", HostTensor::from_f32(video.shape(), video.to_floats()));
  }
  if (fx.has("input.video")) {
    gpu::CommandStream s(ctx);
    const auto [mean, logvar] = vae.encode(s, upload_fixture_tensor(ctx, fx, "input.video"));
    out.emplace_back("output.encoded_mean", HostTensor::from_f32(mean.shape(), mean.to_floats()));
    out.emplace_back("output.encoded_logvar", HostTensor::from_f32(logvar.shape(), logvar.to_floats()));
  }
  return out;
}

const FixtureRegistrar reg("AutoencoderKLLTXVideo", run);

}  // namespace
}  // namespace lattice
