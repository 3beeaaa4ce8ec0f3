// --run-fixture for AutoencoderKL: decode(input.latent) and encode(input.image).latent_dist.
#include "core/error.h"
#include "nodes/models/fixture_device.h"
#include "nodes/models/vae/autoencoder_kl.h"

namespace lattice {
namespace {

FixtureOutputs run(const Fixture& fx) {
  const AutoencoderKLConfig config = autoencoder_kl_config_from_json(fx.config());
  FixtureDevice dev(fx);
  gpu::Context& ctx = dev.ctx;
  AutoencoderKL vae(config, dev.weights);
  FixtureOutputs out;
  auto tensor = [&](const std::string& name) { return upload_fixture_tensor(ctx, fx, name); };
  if (fx.has("input.latent")) {
    gpu::CommandStream s(ctx);
    gpu::Tensor d = vae.decode(s, tensor("input.latent"));
    s.finish();
    out.emplace_back("output.decoded", fixture_output(d));
  }
  if (fx.has("input.image")) {
    gpu::CommandStream s(ctx);
    auto [mean, logvar] = vae.encode(s, tensor("input.image"));
    s.finish();
    out.emplace_back("output.encoded_mean", fixture_output(mean));
    out.emplace_back("output.encoded_logvar", fixture_output(logvar));
  }
  return out;
}

const FixtureRegistrar reg("AutoencoderKL", run);

}  // namespace
}  // namespace lattice
