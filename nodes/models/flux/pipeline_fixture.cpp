// --run-fixture for FluxPipeline: the whole text-to-image loop from given embeddings and latents, every
// intermediate compared (noise predictions, timesteps, latents per step, sigmas, VAE input, image).
#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/patchify.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/flux/sampler.h"
#include "nodes/models/vae/autoencoder_kl.h"

namespace lattice {
namespace {

HostTensor host(const gpu::Tensor& t) { return HostTensor::from_f32(t.shape(), t.to_floats()); }

FixtureOutputs run(const Fixture& fx) {
  const auto& cfg = fx.config();
  const FluxConfig tcfg = flux_config_from_json(cfg.at("transformer"));
  const AutoencoderKLConfig vcfg = autoencoder_kl_config_from_json(cfg.at("vae"));
  FluxSamplerOptions o;
  const auto& sc = cfg.at("scheduler");
  o.schedule.num_train_timesteps = sc.value("num_train_timesteps", 1000);
  o.schedule.shift = sc.value("shift", 1.0);
  o.schedule.use_dynamic_shifting = sc.value("use_dynamic_shifting", false);
  o.schedule.base_shift = sc.value("base_shift", 0.5);
  o.schedule.max_shift = sc.value("max_shift", 1.15);
  o.schedule.base_image_seq_len = sc.value("base_image_seq_len", 256);
  o.schedule.max_image_seq_len = sc.value("max_image_seq_len", 4096);
  o.steps = fx.run().at("steps").get<int>();
  o.guidance = fx.run().at("guidance_scale").get<float>();

  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  WeightSource tw = fixture_weights(fx, "weights.transformer.");
  WeightSource vw = fixture_weights(fx, "weights.vae.");
  DeviceWeights tweights(tw, ctx), vweights(vw, ctx);
  FluxTransformer model(tcfg, tweights);
  AutoencoderKL vae(vcfg, vweights);

  auto upload = [&](const std::string& name) { return upload_fixture_tensor(ctx, fx, name); };
  // The latent size FluxPipeline uses: 2 * (H // (2 * vae_scale_factor)).
  const int f = vcfg.downscale();
  const int64_t lh = 2 * (fx.run().at("height").get<int64_t>() / (2 * f)), lw = 2 * (fx.run().at("width").get<int64_t>() / (2 * f));
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
