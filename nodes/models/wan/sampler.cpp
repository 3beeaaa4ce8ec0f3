#include "nodes/models/wan/sampler.h"

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/copy.h"

namespace lattice {

using gpu::Tensor;

FlowMatchSchedule wan_schedule(const WanSamplerOptions& o) {
  if (o.steps < 1) throw_invalid("Wan sampler: steps must be at least 1");
  FlowMatchConfig c;
  c.shift = o.shift;
  return flow_match_schedule_default(c, o.steps, std::nullopt);
}

std::vector<int64_t> wan_latent_shape(int64_t frames, int64_t height, int64_t width, int64_t channels) {
  if (frames < 1 || (frames - 1) % 4)
    throw_invalid("Wan: num_frames must be 4k + 1 (1, 5, ..., 81), got " + std::to_string(frames) + "; the VAE packs 4 frames " +
                  "per latent frame after the first");
  if (height < 16 || width < 16 || height % 16 || width % 16)
    throw_invalid("Wan: width and height must be positive multiples of 16, got " + std::to_string(width) + "x" +
                  std::to_string(height));
  return {1, channels, (frames - 1) / 4 + 1, height / 8, width / 8};
}

Tensor wan_sample(WanTransformer& model, gpu::Context& ctx, const Tensor& noise, const Tensor& cond, const Tensor& negative,
                  const WanSamplerOptions& o, const WanStepCallback& on_step) {
  if (model.config().image_to_video())
    throw_invalid("Wan sampler: image-to-video models need a CLIP image embedding and an image latent; only text-to-video "
                  "sampling is supported");
  if (noise.rank() != 5 || noise.dim(0) != 1 || noise.dim(1) != model.config().in_channels)
    throw_invalid("Wan sampler: noise " + noise.describe() + " should be [1, " + std::to_string(model.config().in_channels) +
                  ", T, h, w]");
  const bool cfg = o.guidance > 1.0f;
  if (cfg && !negative.defined())
    throw_invalid("Wan sampler: guidance > 1 needs the negative conditioning (wan.text_encode of the negative prompt, "
                  "which may be empty)");
  if (cfg && negative.shape() != cond.shape())
    throw_invalid("Wan sampler: negative conditioning " + negative.describe() + " and conditioning " + cond.describe() +
                  " differ in shape (encode both with the same max_length)");
  const FlowMatchSchedule sched = wan_schedule(o);
  const int n = static_cast<int>(sched.timesteps.size());
  Tensor context = cond;
  if (cfg && o.batch_cfg) {  // batch [unconditional, conditional]
    gpu::CommandStream s(ctx);
    context = gpu::concat(s, {negative, cond}, 0);
    s.finish();
  }
  const Tensor scale = Tensor::from_floats(ctx, std::vector<float>{o.guidance}, {1});
  Tensor x = noise;
  for (int i = 0; i < n; ++i) {
    gpu::CommandStream s(ctx);
    const float t = sched.timesteps[static_cast<size_t>(i)];
    Tensor v;
    if (cfg) {
      Tensor vu, vc;
      if (o.batch_cfg) {
        const Tensor out = model.forward(s, gpu::concat(s, {x, x}, 0), {t, t}, context);
        vu = gpu::narrow(out, 0, 0, 1);
        vc = gpu::narrow(out, 0, 1, 1);
      } else {
        vu = model.forward(s, x, {t}, negative);
        vc = model.forward(s, x, {t}, cond);
      }
      v = gpu::add(s, vu, gpu::mul(s, scale, gpu::sub(s, vc, vu)));  // uncond + g·(cond − uncond)
    } else {
      v = model.forward(s, x, {t}, context);
    }
    // Euler: x + (sigma_next − sigma)·v, in f32 as the scheduler does.
    const float dt = sched.sigmas[static_cast<size_t>(i + 1)] - sched.sigmas[static_cast<size_t>(i)];
    x = gpu::add(s, x, gpu::mul(s, v, Tensor::from_floats(ctx, std::vector<float>{dt}, {1})));
    s.finish();
    if (on_step) on_step(i + 1, n);
  }
  return x;
}

}  // namespace lattice
