// latent.noise: seeded Gaussian latents for an image size, identical on every device (Philox, gpu/ops/noise.h),
// or torch.randn from a seeded CPU generator as diffusers' FluxPipeline draws them (nodes/models/torch_generator.h).
#include "core/eval_context.h"
#include "nodes/models/torch_generator.h"
#include "nodes/gpu_service.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

// FLUX packs 2x2 latent patches, so latent sides are even: 2 * (side // (2 * downscale)).
int64_t latent_side(int64_t pixels, int64_t downscale) { return 2 * (pixels / (2 * downscale)); }

NodeDesc make() {
  NodeDesc d;
  d.type = "latent.noise";
  d.category = "Latent";
  d.description = "Seeded N(0, 1) latents for an image of the given size (the same on every device)";
  d.outputs = {{"latent", PortType::Latent, "noise [1, channels, h, w]"}};
  d.params = {{"width", ParamType::Int, 1024, "image width in pixels", 16, 16384},
              {"height", ParamType::Int, 1024, "image height in pixels", 16, 16384},
              {"channels", ParamType::Int, 16, "latent channels (16 for FLUX)", 1, 256},
              {"downscale", ParamType::Int, 8, "pixels per latent (the VAE's factor)", 1, 64},
              {"seed", ParamType::Seed, 0, "noise seed"},
              noise_generator_param("FluxPipeline")};
  d.evaluate = [](EvalContext& ctx) {
    const int64_t f = ctx.integer("downscale");
    const int64_t h = latent_side(ctx.integer("height"), f), w = latent_side(ctx.integer("width"), f);
    if (h < 2 || w < 2) ctx.fail("the image is too small for this downscale");
    gpu::Context& gc = gpu_context(ctx);
    gpu::CommandStream s(gc);
    gpu::Tensor z = starting_noise(s, parse_noise_generator(ctx.string("generator")), ctx.seed("seed"),
                                   {1, ctx.integer("channels"), h, w});
    s.finish();
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, z));
  };
  d.plan = [](PlanContext& ctx) {
    const int64_t f = ctx.integer("downscale");
    const int64_t h = latent_side(ctx.integer("height"), f), w = latent_side(ctx.integer("width"), f), c = ctx.integer("channels");
    PlanInfo p;
    p.shape = "latent [1, " + std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) + "]";
    p.activation_bytes = static_cast<uint64_t>(c * h * w * 4);
    p.meta = {{"c", c}, {"h", h}, {"w", w}};
    ctx.set_output("latent", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
