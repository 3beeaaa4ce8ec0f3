// --run-fixture for FluxPipeline: the whole text-to-image loop from given embeddings and latents, every
// intermediate compared (noise predictions, timesteps, latents per step, sigmas, VAE input, image). The scheduler
// config is read as the FlowMatchEulerDiscreteScheduler runner reads it (flow_match_config_from_json).
#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/patchify.h"
#include "nodes/gpu_service.h"
#include "nodes/models/checkpoint_shapes.h"
#include "nodes/models/fixture.h"
#include "nodes/models/flow_match.h"
#include "nodes/models/flux/sampler.h"
#include "nodes/models/vae/autoencoder_kl.h"

namespace lattice {
namespace {

HostTensor host(const gpu::Tensor& t) { return HostTensor::from_f32(t.shape(), t.to_floats()); }

FixtureOutputs run(const Fixture& fx) {
  const auto& cfg = fx.config();
  const FluxConfig tcfg = flux_config_from_json(cfg.at("transformer"));
  const AutoencoderKLConfig vcfg = autoencoder_kl_config_from_json(cfg.at("vae"));
  vcfg.validate();
  FluxSamplerOptions o;
  o.schedule = flow_match_config_from_json(cfg.at("scheduler"));  // refuses what the schedule does not implement
  o.steps = fx.run().at("steps").get<int>();
  o.guidance = fx.run().at("guidance_scale").get<float>();
  if (o.steps < 1) fx.refuse("run.steps is " + std::to_string(o.steps) + "; it must be at least 1");
  if (tcfg.in_channels != tcfg.out_channels || tcfg.out_channels != 4 * vcfg.latent_channels)
    fx.refuse("config.transformer's in_channels " + std::to_string(tcfg.in_channels) + " and out_channels " +
              std::to_string(tcfg.out_channels) + " must both be 4 x config.vae.latent_channels " + std::to_string(vcfg.latent_channels) +
              " (packed 2x2 latents)");

  // The latent size FluxPipeline uses: 2 * (H // (2 * vae_scale_factor)).
  const int f = vcfg.downscale();
  const int64_t lh = 2 * (fx.run().at("height").get<int64_t>() / (2 * f)), lw = 2 * (fx.run().at("width").get<int64_t>() / (2 * f));
  if (lh < 2 || lw < 2) fx.refuse("run.height and run.width must be at least " + std::to_string(2 * f));
  const int64_t S = (lh / 2) * (lw / 2);
  FixtureShapes shapes(fx);
  if (fx.run().contains("txt_len")) shapes.bind("L", fx.run()["txt_len"].get<int64_t>(), "run.txt_len");
  shapes.need("input.noise", {"B", vcfg.latent_channels, lh, lw})
      .need("input.prompt_embeds", {"B", "L", tcfg.joint_attention_dim})
      .need("input.pooled_prompt_embeds", {"B", tcfg.pooled_projection_dim});
  shapes.optional("input.latents", {"B", S, tcfg.in_channels});
  for (int i = 0; i < o.steps; ++i)
    for (const std::string n : {"output.latents.", "output.noise_pred."}) shapes.optional(n + std::to_string(i), {"B", S, tcfg.out_channels});
  shapes.optional("output.sigmas", {o.steps + 1});
  shapes.optional("output.vae_input", {"B", vcfg.latent_channels, lh, lw});
  for (const char* n : {"output.decoded", "output.image"}) shapes.optional(n, {"B", vcfg.out_channels, lh * f, lw * f});
  check_fixture_weights(fx, [&] {
    TensorShapes w = prefixed(flux_checkpoint_shapes(tcfg), "transformer.");
    for (auto& t : prefixed(autoencoder_kl_checkpoint_shapes(vcfg), "vae.")) w.push_back(std::move(t));
    return w;
  }());

  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  WeightSource tw = fixture_weights(fx, "weights.transformer.");
  WeightSource vw = fixture_weights(fx, "weights.vae.");
  DeviceWeights tweights(tw, ctx), vweights(vw, ctx);
  FluxTransformer model(tcfg, tweights);
  AutoencoderKL vae(vcfg, vweights);

  auto upload = [&](const std::string& name) { return upload_fixture_tensor(ctx, fx, name); };
  FixtureOutputs out;
  gpu::Tensor latents;
  {
    gpu::CommandStream s(ctx);
    latents = gpu::pack_latents(s, upload("input.noise"));
    s.finish();
  }
  FluxConditioning cond{upload("input.prompt_embeds"), upload("input.pooled_prompt_embeds")};
  std::vector<FluxStepRecord> records;
  gpu::Tensor final_latents = flux_sample(
      model, ctx, latents, lh, lw, cond, nullptr, o,
      [&](int step, int, const gpu::Tensor& x) { out.emplace_back("output.latents." + std::to_string(step - 1), host(x)); },
      &records, [&](int i, const gpu::Tensor& v) { out.emplace_back("output.noise_pred." + std::to_string(i), host(v)); });
  for (size_t i = 0; i < records.size(); ++i)
    out.emplace_back("output.timestep." + std::to_string(i), HostTensor::from_f32({1}, {records[i].timestep}));
  const FlowMatchSchedule sched = flux_schedule(o, lh, lw);
  out.emplace_back("output.sigmas", HostTensor::from_f32({static_cast<int64_t>(sched.sigmas.size())}, sched.sigmas));

  gpu::CommandStream s(ctx);
  const gpu::Tensor unpacked = gpu::unpack_latents(s, final_latents, lh, lw);
  const gpu::Tensor vae_input = vae.to_decoder_input(s, unpacked);
  const gpu::Tensor decoded = vae.decode(s, vae_input);
  s.finish();
  out.emplace_back("output.vae_input", host(vae_input));
  out.emplace_back("output.decoded", host(decoded));
  std::vector<float> img = decoded.to_floats();
  for (float& v : img) v = std::clamp(v / 2.0f + 0.5f, 0.0f, 1.0f);
  out.emplace_back("output.image", HostTensor::from_f32(decoded.shape(), img));
  return out;
}

const FixtureRegistrar reg("FluxPipeline", run);

}  // namespace
}  // namespace lattice
