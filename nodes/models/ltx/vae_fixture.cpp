// --run-fixture for AutoencoderKLLTXVideo: decode(input.latent, input.decode_timestep) and
// encode(input.video).latent_dist from the stored config and weights. A noise-injecting (0.9.1) decoder takes
// the reference's draws, input.inject_noise.0, .1, ... (tools/ltx_vae_fixture.py), instead of its own noise.
#include "nodes/models/fixture_device.h"
#include "nodes/models/ltx/vae.h"

namespace lattice {

namespace {

FixtureOutputs run(const Fixture& fx) {
  const LtxVaeConfig config = ltx_vae_config_from_json(fx.config());
  const int64_t f = config.spatial_compression(), ft = config.temporal_compression();
  FixtureShapes shapes(fx);
  if (shapes.optional("input.latent", {"B", config.latent_channels, "T", "h", "w"}))
    shapes.need("output.decoded", {"B", config.out_channels, 1 + (shapes["T"] - 1) * ft, shapes["h"] * f, shapes["w"] * f});
  shapes.optional("input.decode_timestep", {"B"});
  if (shapes.optional("input.video", {"B'", config.in_channels, "T'", "H", "W"}))
    for (const char* o : {"output.encoded_mean", "output.encoded_logvar"})
      shapes.need(o, {"B'", config.latent_channels, 1 + (shapes["T'"] - 1) / ft, shapes["H"] / f, shapes["W"] / f});
  FixtureDevice dev(fx);
  gpu::Context& ctx = dev.ctx;
  LtxVae vae(config, dev.weights);

  FixtureOutputs out;
  if (fx.has("input.latent")) {
    const std::vector<float> t = fx.has("input.decode_timestep") ? fx.f32("input.decode_timestep") : std::vector<float>{};
    LtxDecodeNoise noise;
    for (int k = 0; fx.has("input.inject_noise." + std::to_string(k)); ++k)
      noise.fields.push_back(upload_fixture_tensor(ctx, fx, "input.inject_noise." + std::to_string(k)));
    gpu::CommandStream s(ctx);
    const gpu::Tensor video = vae.decode(s, upload_fixture_tensor(ctx, fx, "input.latent"), t, noise);
    s.finish();
    out.emplace_back("output.decoded", fixture_output(video));
  }
  if (fx.has("input.video")) {
    gpu::CommandStream s(ctx);
    const auto [mean, logvar] = vae.encode(s, upload_fixture_tensor(ctx, fx, "input.video"));
    out.emplace_back("output.encoded_mean", fixture_output(mean));
    out.emplace_back("output.encoded_logvar", fixture_output(logvar));
  }
  return out;
}

const FixtureRegistrar reg("AutoencoderKLLTXVideo", run);

}  // namespace
}  // namespace lattice
