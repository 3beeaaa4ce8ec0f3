// --run-fixture for AutoencoderKL: decode(input.latent) and encode(input.image).latent_dist.
#include "core/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/vae/autoencoder_kl.h"

namespace lattice {
namespace {

FixtureOutputs run(const Fixture& fx) {
  const AutoencoderKLConfig config = autoencoder_kl_config_from_json(fx.config());
  WeightSource src = fixture_weights(fx);
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(src, ctx);
  AutoencoderKL vae(config, weights);
  FixtureOutputs out;
  auto tensor = [&](const std::string& name) { return upload_fixture_tensor(ctx, fx, name); };
  if (fx.has("input.latent")) {
    gpu::CommandStream s(ctx);
    gpu::Tensor d = vae.decode(s, tensor("input.latent"));
    s.finish();
    out.emplace_back("output.decoded", HostTensor::from_f32(d.shape(), d.to_floats()));
  }
  if (fx.has("input.image")) {
    gpu::CommandStream s(ctx);
    auto [mean, logvar] = vae.encode(s, tensor("input.image"));
    s.finish();
    out.emplace_back("output.encoded_mean", HostTensor::from_f32(mean.shape(), mean.to_floats()));
    out.emplace_back("output.encoded_logvar", HostTensor::from_f32(logvar.shape(), logvar.to_floats()));
  }
  return out;
}

const FixtureRegistrar reg("AutoencoderKL", run);

}  // namespace
}  // namespace lattice
