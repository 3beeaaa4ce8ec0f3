// --run-fixture for AutoencoderKLWan: decode(input.latent) (raw latent, clamped output) and
// encode(input.video).latent_dist.
#include "core/error.h"
#include "nodes/models/fixture_device.h"
#include "nodes/models/wan/vae.h"

namespace lattice {
namespace {

FixtureOutputs run(const Fixture& fx) {
  const WanVaeConfig config = wan_vae_config_from_json(fx.config());
  FixtureShapes shapes(fx);
  const int64_t f = config.spatial_compression(), ft = config.temporal_compression();
  if (shapes.optional("input.latent", {"B", config.z_dim, "T", "h", "w"}))
    shapes.need("output.decoded", {"B", 3, 1 + (shapes["T"] - 1) * ft, shapes["h"] * f, shapes["w"] * f});
  if (shapes.optional("input.video", {"B'", 3, "T'", "H", "W"}))
    for (const char* o : {"output.encoded_mean", "output.encoded_logvar"})
      shapes.need(o, {"B'", config.z_dim, 1 + (shapes["T'"] - 1) / ft, shapes["H"] / f, shapes["W"] / f});
  FixtureDevice dev(fx, wan_vae_tensor_shapes(config));
  gpu::Context& ctx = dev.ctx;
  WanVae vae(config, dev.weights);
  FixtureOutputs out;
  if (fx.has("input.latent")) {
    gpu::CommandStream s(ctx);
    out.emplace_back("output.decoded", vae.decode(s, upload_fixture_tensor(ctx, fx, "input.latent")));
  }
  if (fx.has("input.video")) {
    gpu::CommandStream s(ctx);
    auto [mean, logvar] = vae.encode(s, upload_fixture_tensor(ctx, fx, "input.video"));
    s.finish();
    out.emplace_back("output.encoded_mean", fixture_output(mean));
    out.emplace_back("output.encoded_logvar", fixture_output(logvar));
  }
  return out;
}

const FixtureRegistrar reg("AutoencoderKLWan", run);

}  // namespace
}  // namespace lattice
