#include "nodes/models/wan/sampler.h"

#include <optional>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/copy.h"

namespace lattice {

using gpu::Tensor;

UniPcConfig wan_unipc_config(const WanSamplerOptions& o) {
  UniPcConfig c;
  c.flow_shift = o.shift;
  c.solver_order = o.solver_order;
  return c;
}

FlowMatchSchedule wan_schedule(const WanSamplerOptions& o) {
  if (o.steps < 1) throw_invalid("Wan sampler: steps must be at least 1");
  if (o.scheduler == WanScheduler::UniPc) return unipc_flow_schedule(wan_unipc_config(o), o.steps);
  FlowMatchConfig c;
  c.shift = o.shift;
  return flow_match_schedule_default(c, o.steps, std::nullopt);
}

int wan_start_step(const WanSamplerOptions& o) { return flow_match_start_step(o.steps, o.strength); }

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
                  const WanSamplerOptions& o, const WanStepCallback& on_step, const WanImageCondition* image,
                  const Tensor& start, WanSampleReport* report) {
  const WanConfig& c = model.config();
  if (noise.rank() != 5 || noise.dim(0) != 1 || noise.dim(1) != c.out_channels)
    throw_invalid("Wan sampler: noise " + noise.describe() + " should be [1, " + std::to_string(c.out_channels) + ", T, h, w]");
  if (c.image_to_video() != (image != nullptr))
    throw_invalid(c.image_to_video() ? "Wan sampler: this image-to-video model needs the image embedding and the image "
                                       "condition latent"
                                     : "Wan sampler: an image condition was given to a text-to-video model");
  if (image) {
    const Tensor& l = image->latent;
    if (l.rank() != 5 || l.dim(0) != 1 || l.dim(1) + noise.dim(1) != c.in_channels || l.dim(2) != noise.dim(2) ||
        l.dim(3) != noise.dim(3) || l.dim(4) != noise.dim(4))
      throw_invalid("Wan sampler: image condition latent " + l.describe() + " should be [1, " +
                    std::to_string(c.in_channels - noise.dim(1)) + ", " + std::to_string(noise.dim(2)) + ", " +
                    std::to_string(noise.dim(3)) + ", " + std::to_string(noise.dim(4)) + "]");
    if (image->embeds.rank() != 3 || image->embeds.dim(0) != 1)
      throw_invalid("Wan sampler: image embedding " + image->embeds.describe() + " should be [1, 257, " +
                    std::to_string(c.image_dim) + "]");
  }
  const bool cfg = o.guidance > 1.0f;
  if (cfg && !negative.defined())
    throw_invalid("Wan sampler: guidance > 1 needs the negative conditioning (wan.text_encode of the negative prompt, "
                  "which may be empty)");
  if (cfg && negative.shape() != cond.shape())
    throw_invalid("Wan sampler: negative conditioning " + negative.describe() + " and conditioning " + cond.describe() +
                  " differ in shape (encode both with the same max_length)");
  if (!(o.strength > 0.0f && o.strength <= 1.0f)) throw_invalid("Wan sampler: strength must be in (0, 1]");
  const bool refine = o.strength < 1.0f;
  if (refine && !start.defined()) throw_invalid("Wan sampler: strength < 1 needs start latents to refine");
  if (refine && start.shape() != noise.shape())
    throw_invalid("Wan sampler: start latents " + start.describe() + " and noise " + noise.describe() + " differ in shape");
  const FlowMatchSchedule sched = wan_schedule(o);
  const int n = static_cast<int>(sched.timesteps.size());
  const int first_step = refine ? wan_start_step(o) : 0;
  if (first_step >= n)
    throw_invalid("Wan sampler: strength " + std::to_string(o.strength) + " of " + std::to_string(n) +
                  " steps leaves no step to take");
  Tensor x = noise;
  if (refine) {
    gpu::CommandStream s(ctx);
    x = flow_match_noised(s, noise, start, sched.sigmas[static_cast<size_t>(first_step)]);
    s.finish();
  }
  bool batched = cfg && o.batch_cfg;
  if (batched) {
    // What the sampler holds at the first forward beyond what it holds now (wan_sampler_device_bytes: the step's
    // input, with batching the batch-2 states), beside the forward's activations.
    const int64_t grid = noise.dim(2) * noise.dim(3) * noise.dim(4), text = cond.dim(1);
    const int64_t image_tokens = image ? image->embeds.dim(1) : 0, context_tokens = text + image_tokens;
    const int64_t tokens = grid / c.patch_volume();
    const uint64_t held = wan_sampler_device_bytes(c, grid, text, image_tokens, negative.defined(), false, refine) -
                          4 * (image ? static_cast<uint64_t>(c.in_channels * grid) : 0);
    const auto pending = [&](bool b) {
      return wan_sampler_device_bytes(c, grid, text, image_tokens, negative.defined(), b, refine) - held;
    };
    if (!model.forward_fits(tokens, context_tokens, 2, pending(true)) &&
        model.forward_fits(tokens, context_tokens, 1, pending(false))) {
      batched = false;
      if (report) report->cfg_in_turn_to_fit = true;
    }
  }
  Tensor context = cond, embeds = image ? image->embeds : Tensor{};
  if (batched) {  // batch [unconditional, conditional]
    gpu::CommandStream s(ctx);
    context = gpu::concat(s, {negative, cond}, 0);
    if (image) embeds = gpu::concat(s, {image->embeds, image->embeds}, 0);
    s.finish();
  }
  gpu::CommandStream* stream = nullptr;  // the step's, for UniPC's update
  std::optional<UniPcSolver<Tensor>> unipc;
  if (o.scheduler == WanScheduler::UniPc)
    unipc.emplace(wan_unipc_config(o), sched.sigmas, [&](const UniPcStepPlan& p, const UniPcStepInputs<Tensor>& in) {
      return unipc_update_device(*stream, p, in);
    });
  if (unipc) unipc->planner().set_begin_index(first_step);
  for (int i = first_step; i < n; ++i) {
    gpu::CommandStream s(ctx);
    stream = &s;
    const float t = sched.timesteps[static_cast<size_t>(i)];
    const Tensor in = image ? gpu::concat(s, {x, image->latent}, 1) : x;  // I2V: [noisy latent, condition]
    Tensor v;
    if (batched) {
      const Tensor out = model.forward(s, gpu::concat(s, {in, in}, 0), {t, t}, context, embeds);
      const Tensor vu = gpu::narrow(out, 0, 0, 1), vc = gpu::narrow(out, 0, 1, 1);
      v = gpu::axpby(s, 1.0f, vu, o.guidance, gpu::sub(s, vc, vu));  // uncond + g·(cond − uncond)
    } else if (cfg) {
      const Tensor vu = model.forward(s, in, {t}, negative, embeds), vc = model.forward(s, in, {t}, cond, embeds);
      v = gpu::axpby(s, 1.0f, vu, o.guidance, gpu::sub(s, vc, vu));
    } else {
      v = model.forward(s, in, {t}, context, embeds);
    }
    if (unipc) {
      x = unipc->step(v, x);
    } else {
      // Euler: x + (sigma_next − sigma)·v, in f32 as the scheduler does.
      const float dt = sched.sigmas[static_cast<size_t>(i + 1)] - sched.sigmas[static_cast<size_t>(i)];
      x = gpu::axpby(s, 1.0f, x, dt, v);
    }
    s.finish();
    stream = nullptr;
    if (on_step) on_step(i + 1 - first_step, n - first_step);
  }
  return x;
}

uint64_t wan_sampler_device_bytes(const WanConfig& c, int64_t latent_grid, int64_t text_tokens, int64_t image_tokens,
                                  bool negative, bool batched, bool refine) {
  const uint64_t L = static_cast<uint64_t>(latent_grid), text = static_cast<uint64_t>(text_tokens * c.text_dim);
  const uint64_t image = c.image_to_video() ? static_cast<uint64_t>(image_tokens * c.image_dim) : 0;
  const uint64_t input = static_cast<uint64_t>(c.image_to_video() ? c.in_channels : c.out_channels) * L;
  uint64_t n = static_cast<uint64_t>(c.out_channels) * L + text;  // noise, text states
  if (negative) n += text;
  if (c.image_to_video()) n += image + static_cast<uint64_t>(c.in_channels - c.out_channels) * L + input;
  if (batched) n += 2 * text + 2 * image + 2 * input;
  if (refine) n += 2 * static_cast<uint64_t>(c.out_channels) * L;  // the latents refined and the noised start
  return 4 * n;
}

}  // namespace lattice
