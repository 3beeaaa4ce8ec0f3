// --run-fixture for AutoencoderKL: decode(input.latent) and encode(input.image).latent_dist.
#include "core/error.h"
#include "nodes/models/checkpoint_shapes.h"
#include "nodes/models/fixture_device.h"
#include "nodes/models/vae/autoencoder_kl.h"

namespace lattice {
namespace {

FixtureOutputs run(const Fixture& fx) {
  const AutoencoderKLConfig config = autoencoder_kl_config_from_json(fx.config());
  config.validate();
  const int64_t f = config.downscale();
  FixtureShapes shapes(fx);
  const bool decode = shapes.optional("input.latent", {"B", config.latent_channels, "h", "w"});
  if (decode) shapes.need("output.decoded", {"B", config.out_channels, shapes["h"] * f, shapes["w"] * f});
  const bool encode = shapes.optional("input.image", {"B'", config.in_channels, "H", "W"});
  if (encode) {
    if (shapes["H"] % f || shapes["W"] % f) fx.refuse("input.image's height and width must be multiples of " + std::to_string(f));
    for (const char* o : {"output.encoded_mean", "output.encoded_logvar"})
      shapes.need(o, {"B'", config.latent_channels, shapes["H"] / f, shapes["W"] / f});
  }
  // The encoder's and the decoder's weights each where the fixture runs them (a checkpoint may hold one only).
  FixtureDevice dev(fx, autoencoder_kl_checkpoint_shapes(config, encode, decode));
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
