// ltx.upsample: LTX-Video latents at twice the size (space, or time for the temporal upscaler), as
// LTXLatentUpsamplePipeline makes them:
// de-normalise with the VAE's statistics, run the latent upsampler, optionally match each channel's mean
// and deviation to the input's (AdaIN) and compress large values (tone mapping), normalise again. The result
// feeds a second ltx.sample pass (its `latent` input, strength < 1) or ltx.vae_decode.
#include <cmath>

#include "core/eval_context.h"
#include "nodes/gpu_service.h"
#include "nodes/types/ltx_handles.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

// Per channel: (x - mean_x) / std_x · std_ref + mean_ref (unbiased deviations, as torch.std_mean), blended
// with x by `factor`.
void adain(std::vector<float>& x, const std::vector<float>& ref, int64_t channels, float factor) {
  auto stats = [](const float* p, int64_t n) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < n; ++i) m += p[i];
    m /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) v += (p[i] - m) * (p[i] - m);
    return std::pair<double, double>{m, std::sqrt(v / static_cast<double>(std::max<int64_t>(n - 1, 1)))};
  };
  const int64_t nx = static_cast<int64_t>(x.size()) / channels, nr = static_cast<int64_t>(ref.size()) / channels;
  for (int64_t c = 0; c < channels; ++c) {
    float* p = x.data() + c * nx;
    const auto [rm, rs] = stats(ref.data() + c * nr, nr);
    const auto [im, is] = stats(p, nx);
    for (int64_t i = 0; i < nx; ++i) {
      const float matched = static_cast<float>((p[i] - im) / is * rs + rm);
      p[i] += factor * (matched - p[i]);
    }
  }
}

NodeDesc make() {
  NodeDesc d;
  d.type = "ltx.upsample";
  d.category = "LTX-Video";
  d.description = "Upsample LTX-Video latents 2x with a latent upsampler (for a second, refining pass)";
  d.inputs = {{"upsampler", PortType::Upsampler, "the latent upsampler (ltx.load_upsampler)"},
              {"vae", PortType::VAE, "the LTX-Video VAE (its latent statistics)"},
              {"latent", PortType::Latent, "latents [1, 128, F, h, w] from ltx.sample"}};
  d.outputs = {{"latent", PortType::Latent, "latents [1, 128, F, 2h, 2w] (spatial) or [1, 128, 2F-1, h, w] (temporal)"}};
  d.params = {{"adain_factor", ParamType::Float, 0.0, "match each channel's statistics to the input's (0 = off, 1 = fully)", 0.0, 1.0},
              {"tone_map", ParamType::Float, 0.0, "compress large latent values (0 = off)", 0.0, 1.0}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& up = ctx.input_as<LtxUpsamplerHandle>("upsampler");
    const auto& vae_handle = ctx.input_as<LtxVaeHandle>("vae");
    gpu::Context& gc = gpu_context(ctx);
    const gpu::Tensor z = ctx.input_as<TensorValue>("latent").device(gc);
    if (z.rank() != 5 || z.dim(0) != 1 || z.dim(1) != up.config().in_channels)
      ctx.fail("latent " + z.describe() + " should be [1, " + std::to_string(up.config().in_channels) + ", F, h, w]");
    const LtxVae& vae = vae_handle.model(gc);
    gpu::CommandStream s(gc);
    const gpu::Tensor raw = vae.denormalize(s, z);
    const gpu::Tensor big = up.model(gc).forward(s, raw);
    s.finish();
    std::vector<float> x = big.to_floats();
    const float factor = static_cast<float>(ctx.number("adain_factor")), tone = static_cast<float>(ctx.number("tone_map"));
    if (factor > 0) adain(x, raw.to_floats(), big.dim(1), factor);
    if (tone > 0) {
      const float k = tone * 0.75f;
      for (float& v : x) v *= 1.0f - 0.8f * k / (1.0f + std::exp(-4.0f * k * (std::fabs(v) - 1.0f)));
    }
    gpu::CommandStream s2(gc);
    const gpu::Tensor out = vae.normalize(s2, gpu::Tensor::from_floats(gc, x, big.shape()));
    s2.finish();
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, out));
  };
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* latent = ctx.input("latent");
    if (!latent || !latent->meta.contains("f")) return;
    const PlanInfo* up = ctx.input("upsampler");
    const bool spatial = !up || up->meta.value("spatial", true), temporal = up && up->meta.value("temporal", false);
    PlanInfo p;
    p.meta = latent->meta;
    if (spatial) {
      p.meta["h"] = 2 * latent->meta["h"].get<int64_t>();
      p.meta["w"] = 2 * latent->meta["w"].get<int64_t>();
    }
    if (temporal) p.meta["f"] = 2 * latent->meta["f"].get<int64_t>() - 1;
    p.shape = "latent [1, " + std::to_string(p.meta.value("c", int64_t{128})) + ", " + std::to_string(p.meta["f"].get<int64_t>()) + ", " + std::to_string(p.meta["h"].get<int64_t>()) +
              ", " + std::to_string(p.meta["w"].get<int64_t>()) + "]";
    ctx.set_output("latent", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
