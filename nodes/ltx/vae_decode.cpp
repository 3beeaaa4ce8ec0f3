// ltx.vae_decode: LTX-Video latents to video frames, as LTXPipeline decodes: de-normalise with the VAE's
// latents_mean/std, blend in seeded noise (decode_noise_scale), decode at decode_timestep, map [-1, 1] to
// [0, 1].
#include "core/eval_context.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/noise.h"
#include "nodes/gpu_service.h"
#include "nodes/ltx/video_value.h"
#include "nodes/types/ltx_handles.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "ltx.vae_decode";
  d.category = "LTX-Video";
  d.description = "Decode LTX-Video latents to video frames (timestep-conditioned decoding of the 0.9.5+ VAE)";
  d.inputs = {{"vae", PortType::VAE, "the LTX-Video VAE (ltx.load_vae)"},
              {"latent", PortType::Latent, "latents [1, 128, F, h, w] from ltx.sample"}};
  d.outputs = {{"video", PortType::Video, "1 + 8(F-1) RGB frames of 32h x 32w in [0, 1]"}};
  d.params = {{"decode_timestep", ParamType::Float, 0.05, "the decoder's timestep (0.9.5+: 0.05)", 0.0, 1.0},
              {"decode_noise_scale", ParamType::Float, 0.025, "noise blended into the latents before decoding (0.9.5+: 0.025)", 0.0, 1.0},
              {"frame_rate", ParamType::Float, 25.0, "frames per second of the video", 1.0, 240.0},
              {"seed", ParamType::Seed, 0, "seed of the decode noise"}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& handle = ctx.input_as<LtxVaeHandle>("vae");
    gpu::Context& gc = gpu_context(ctx);
    const gpu::Tensor z = ctx.input_as<TensorValue>("latent").device(gc);
    if (z.rank() != 5 || z.dim(0) != 1 || z.dim(1) != handle.config().latent_channels)
      ctx.fail("latent " + z.describe() + " should be [1, " + std::to_string(handle.config().latent_channels) + ", F, h, w]");
    LtxVae& vae = handle.model(gc);
    const float t = static_cast<float>(ctx.number("decode_timestep"));
    const float k = static_cast<float>(ctx.number("decode_noise_scale"));
    gpu::CommandStream s(gc);
    gpu::Tensor x = vae.denormalize(s, z);
    if (k > 0 && handle.config().timestep_conditioning) {
      // LTXPipeline: (1 - scale)·latents + scale·noise, only for timestep-conditioned VAEs.
      const gpu::Tensor noise = gpu::normal_noise(s, z.shape(), ctx.seed("seed"));
      x = gpu::add(s, gpu::mul(s, x, gpu::Tensor::from_floats(gc, std::vector<float>{1.0f - k}, {1})),
                   gpu::mul(s, noise, gpu::Tensor::from_floats(gc, std::vector<float>{k}, {1})));
    }
    const gpu::Tensor video = vae.decode(s, x, {t});
    s.finish();
    ctx.set_output("video", ltx_video_value(video.shape(), video.to_floats(), ctx.number("frame_rate")));
  };
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* latent = ctx.input("latent");
    if (!latent || !latent->meta.contains("f")) return;
    const int64_t f = latent->meta["f"].get<int64_t>(), h = latent->meta["h"].get<int64_t>(), w = latent->meta["w"].get<int64_t>();
    PlanInfo p;
    p.shape = "video " + std::to_string(1 + 8 * (f - 1)) + " frames " + std::to_string(32 * w) + "x" + std::to_string(32 * h);
    // The last up block dominates: about six live [1, 128, T, H/4, W/4] f32 tensors (released VAEs).
    p.activation_bytes = static_cast<uint64_t>((1 + 8 * (f - 1)) * 8 * h * 8 * w * 128 * 4 * 6);
    ctx.set_output("video", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
