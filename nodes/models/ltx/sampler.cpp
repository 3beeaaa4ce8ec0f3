#include "nodes/models/ltx/sampler.h"

#include <algorithm>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/patchify.h"

namespace lattice {

using gpu::Tensor;

FlowMatchConfig ltx_flow_match_config() {
  FlowMatchConfig c;
  c.shift = 1.0;
  c.use_dynamic_shifting = true;
  c.base_shift = 0.95;
  c.max_shift = 2.05;
  c.base_image_seq_len = 1024;
  c.max_image_seq_len = 4096;
  c.shift_terminal = 0.1;
  return c;
}

FlowMatchSchedule ltx_schedule(const LtxSamplerOptions& o, int64_t tokens) {
  return flow_match_schedule(o.schedule, flow_match_pipeline_sigmas(o.steps),
                             flow_match_mu(o.schedule, static_cast<int>(tokens)));
}

int ltx_start_step(const LtxSamplerOptions& o) { return flow_match_start_step(o.steps, o.strength); }

Tensor ltx_sample(LtxTransformer& model, gpu::Context& gc, const Tensor& noise, const LtxConditioning& cond,
                  const LtxConditioning* negative, const LtxSamplerOptions& o, const Tensor& first_frame,
                  const LtxStepCallback& on_step, const Tensor& start) {
  const LtxTransformerConfig& c = model.config();
  if (noise.rank() != 5 || noise.dim(0) != 1 || noise.dim(1) != c.in_channels)
    throw_eval("LTX-Video sampler: noise " + noise.describe() + " should be [1, " + std::to_string(c.in_channels) + ", F, h, w]");
  if (o.steps < 1) throw_eval("LTX-Video sampler: steps must be at least 1");
  const int64_t F = noise.dim(2), h = noise.dim(3), w = noise.dim(4), S = F * h * w, frame_tokens = h * w;
  const bool cfg = o.guidance > 1.0f;
  if (cfg && !negative) throw_eval("LTX-Video sampler: guidance > 1 needs a negative (unconditional) conditioning");
  if (cfg && negative->embeds.shape() != cond.embeds.shape())
    throw_eval("LTX-Video sampler: negative conditioning " + negative->embeds.describe() + " and conditioning " +
               cond.embeds.describe() + " differ in shape; encode both with the same max_length");
  if (first_frame.defined() && (first_frame.rank() != 5 || first_frame.dim(1) != noise.dim(1) || first_frame.dim(2) != 1 ||
                                first_frame.dim(3) != h || first_frame.dim(4) != w))
    throw_eval("LTX-Video sampler: first-frame latent " + first_frame.describe() + " should be [1, " +
               std::to_string(noise.dim(1)) + ", 1, " + std::to_string(h) + ", " + std::to_string(w) + "]");

  if (first_frame.defined() && (o.image_index < 0 || o.image_index >= F))
    throw_eval("LTX-Video sampler: image_index " + std::to_string(o.image_index) + " is outside the video's " +
               std::to_string(F) + " latent frames (0.." + std::to_string(F - 1) + ")");
  if (o.strength <= 0.0f || o.strength > 1.0f) throw_eval("LTX-Video sampler: strength must be in (0, 1]");
  const bool refine = start.defined() && o.strength < 1.0f;
  if (o.strength < 1.0f && !start.defined()) throw_eval("LTX-Video sampler: strength < 1 needs start latents to refine");
  if (refine && start.shape() != noise.shape())
    throw_eval("LTX-Video sampler: start latents " + start.describe() + " and noise " + noise.describe() + " differ in shape");
  const FlowMatchSchedule sched = ltx_schedule(o, S);
  const int first_step = refine ? ltx_start_step(o) : 0;
  if (first_step >= o.steps) throw_eval("LTX-Video sampler: strength " + std::to_string(o.strength) + " leaves no step to take");

  const gpu::Patch patch{1, 1, 1};
  Tensor x;      // packed latents [1, S, C]
  Tensor fixed;  // packed tokens of the conditioning image [1, h·w, C], at token fixed_at of x
  const int64_t fixed_at = static_cast<int64_t>(o.image_index) * frame_tokens;
  {
    gpu::CommandStream s(gc);
    Tensor begin = noise;
    if (refine) begin = flow_match_noised(s, noise, start, sched.sigmas[static_cast<size_t>(first_step)]);
    x = gpu::patchify(s, begin, patch, gpu::PatchOrder::ChannelMajor);
    if (first_frame.defined()) {
      fixed = gpu::patchify(s, first_frame, patch, gpu::PatchOrder::ChannelMajor);
      gpu::copy_into(s, fixed, gpu::narrow(x, 1, fixed_at, frame_tokens));
    }
    s.finish();
  }
  // The batch [uncond, cond] shares one forward; so do the masks.
  const Tensor context = cfg ? [&] {
    gpu::CommandStream s(gc);
    Tensor t = gpu::concat(s, {negative->embeds, cond.embeds}, 0);
    s.finish();
    return t;
  }() : cond.embeds;
  std::vector<float> mask;
  if (cfg) mask = negative->mask;
  mask.insert(mask.end(), cond.mask.begin(), cond.mask.end());
  const int64_t B = cfg ? 2 : 1;

  const std::array<float, 3> scale{static_cast<float>(o.temporal_compression) / o.frame_rate,
                                   static_cast<float>(o.spatial_compression), static_cast<float>(o.spatial_compression)};
  const gpu::RopeTables rope = ltx_rope_tables(F, h, w, scale, c.inner_dim());
  const Tensor cos = Tensor::from_floats(gc, rope.cos, {rope.length, rope.width});
  const Tensor sin = Tensor::from_floats(gc, rope.sin, {rope.length, rope.width});

  for (int i = first_step; i < o.steps; ++i) {
    const float t = sched.timesteps[static_cast<size_t>(i)];
    // Image conditioning: per-token timesteps, 0 on the conditioned frame's tokens.
    std::vector<float> timesteps;
    if (fixed.defined()) {
      timesteps.assign(static_cast<size_t>(B * S), t);
      for (int64_t b = 0; b < B; ++b) std::fill_n(timesteps.begin() + b * S + fixed_at, frame_tokens, 0.0f);
    } else {
      timesteps.assign(static_cast<size_t>(B), t);
    }
    gpu::CommandStream s(gc);
    const Tensor input = cfg ? gpu::concat(s, {x, x}, 0) : x;
    const Tensor pred = model.forward(s, input, context, mask, timesteps, cos, sin);
    Tensor v = pred;
    if (cfg) {
      const Tensor u = gpu::narrow(pred, 0, 0, 1), p = gpu::narrow(pred, 0, 1, 1);
      const Tensor g = Tensor::from_floats(gc, std::vector<float>{o.guidance}, {1});
      v = gpu::add(s, u, gpu::mul(s, g, gpu::sub(s, p, u)));
    }
    const float dt = sched.sigmas[static_cast<size_t>(i + 1)] - sched.sigmas[static_cast<size_t>(i)];
    x = gpu::add(s, x, gpu::mul(s, v, Tensor::from_floats(gc, std::vector<float>{dt}, {1})));
    if (fixed.defined()) gpu::copy_into(s, fixed, gpu::narrow(x, 1, fixed_at, frame_tokens));
    s.finish();
    if (on_step) on_step(i + 1 - first_step, o.steps - first_step, x);
  }
  gpu::CommandStream s(gc);
  Tensor out = gpu::unpatchify(s, x, {F, h, w}, patch, noise.dim(1), gpu::PatchOrder::ChannelMajor);
  s.finish();
  return out;
}

uint64_t ltx_sampler_device_bytes(const LtxTransformerConfig& c, int64_t tokens, int64_t frame_tokens, int64_t text_tokens,
                                  bool cfg, bool image, bool start) {
  // f32 values, as ltx_sample() makes them before its first forward.
  const uint64_t S = static_cast<uint64_t>(tokens), I = static_cast<uint64_t>(c.in_channels);
  const uint64_t text = static_cast<uint64_t>(text_tokens) * static_cast<uint64_t>(c.caption_channels);
  uint64_t n = 2 * S * I + (cfg ? 2 * S * I + 4 * text : text) + 2 * S * static_cast<uint64_t>(c.inner_dim());
  if (image) n += 2 * static_cast<uint64_t>(frame_tokens) * I;
  if (start) n += S * I;
  return 4 * n;
}

}  // namespace lattice
