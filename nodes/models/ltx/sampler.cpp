#include "nodes/models/ltx/sampler.h"

#include <algorithm>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/noise.h"
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

std::vector<float> ltx_linear_quadratic_sigmas(int steps, double threshold_noise) {
  if (steps < 2) return {1.0f};
  const int linear = steps / 2, quadratic = steps - linear;
  std::vector<double> x;  // 1 - sigma
  for (int i = 0; i < linear; ++i) x.push_back(i * threshold_noise / linear);
  const double step_diff = linear - threshold_noise * steps;
  const double quadratic_coef = step_diff / (linear * quadratic * quadratic);
  const double linear_coef = threshold_noise / linear - 2 * step_diff / (quadratic * quadratic);
  const double constant = quadratic_coef * (linear * linear);
  for (int i = linear; i < steps; ++i) x.push_back(quadratic_coef * (i * i) + linear_coef * i + constant);
  std::vector<float> sigmas;
  for (double v : x) sigmas.push_back(static_cast<float>(1.0 - v));
  return sigmas;
}

FlowMatchSchedule ltx_schedule(const LtxSamplerOptions& o, int64_t tokens) {
  // One sigma (1) cannot be stretched to end at shift_terminal: the reference divides 0 by 0.
  if (o.steps < 2 && o.schedule.shift_terminal)
    throw_eval("LTX-Video sampler: at least 2 steps are needed (the schedule is stretched to end at shift_terminal " +
               std::to_string(*o.schedule.shift_terminal) + "; one step leaves nothing to stretch)");
  if (!o.linear_quadratic)
    return flow_match_schedule(o.schedule, flow_match_pipeline_sigmas(o.steps), flow_match_mu(o.schedule, static_cast<int>(tokens)));
  // As set_timesteps(timesteps = σ·1000) computes them: back to σ in float32, no dynamic shift.
  std::vector<float> sigmas = ltx_linear_quadratic_sigmas(o.steps);
  const float n = static_cast<float>(o.schedule.num_train_timesteps);
  for (float& v : sigmas) v = v * 1000.0f / n;
  FlowMatchConfig c = o.schedule;
  c.use_dynamic_shifting = false;
  return flow_match_schedule(c, sigmas, std::nullopt);
}

int ltx_start_step(const LtxSamplerOptions& o) { return flow_match_start_step(o.steps, o.strength); }

namespace {

// What the steps denoise: packed tokens, each token's conditioning strength and its RoPE row.
struct Tokens {
  Tensor x;                 // [1, N, C]
  std::vector<float> mask;  // N strengths in [0, 1]; empty: nothing conditioned
  Tensor cos, sin;          // [N, inner]
  int64_t appended = 0;     // leading tokens that are not the video's (dropped at the end)
  bool renoise = false;     // re-noise the fully conditioned tokens before each step (o.cond_noise_scale)
  // The scheduler's per-token steps (LTXConditionPipeline); else free tokens take the schedule's step and held
  // ones none (LTXImageToVideoPipeline's step of the whole latent with the image frame put back, bit for bit).
  bool per_token_steps = false;
};

// Runs of consecutive tokens with mask > 1 - 1e-6 (LTXConditionPipeline's "hard" conditioning), as (first, count).
std::vector<std::pair<int64_t, int64_t>> hard_runs(const std::vector<float>& mask) {
  std::vector<std::pair<int64_t, int64_t>> runs;
  for (int64_t k = 0; k < static_cast<int64_t>(mask.size()); ++k) {
    if (!(mask[static_cast<size_t>(k)] > 1.0f - 1e-6f)) continue;
    if (!runs.empty() && runs.back().first + runs.back().second == k) ++runs.back().second;
    else runs.emplace_back(k, 1);
  }
  return runs;
}

// Checks shared by both entry points; returns whether the start latents are refined (strength < 1).
bool check_run(const LtxTransformerConfig& c, const Tensor& noise, const LtxConditioning& cond,
               const LtxConditioning* negative, const LtxSamplerOptions& o, const Tensor& start) {
  if (noise.rank() != 5 || noise.dim(0) != 1 || noise.dim(1) != c.in_channels)
    throw_eval("LTX-Video sampler: noise " + noise.describe() + " should be [1, " + std::to_string(c.in_channels) + ", F, h, w]");
  if (o.steps < 1) throw_eval("LTX-Video sampler: steps must be at least 1");
  if (o.guidance > 1.0f && !negative) throw_eval("LTX-Video sampler: guidance > 1 needs a negative (unconditional) conditioning");
  if (o.guidance > 1.0f && negative->embeds.shape() != cond.embeds.shape())
    throw_invalid("LTX-Video sampler: negative conditioning " + negative->embeds.describe() + " and conditioning " +
                  cond.embeds.describe() + " differ in shape; encode both with the same max_length");
  if (o.strength <= 0.0f || o.strength > 1.0f) throw_eval("LTX-Video sampler: strength must be in (0, 1]");
  if (o.strength < 1.0f && !start.defined()) throw_eval("LTX-Video sampler: strength < 1 needs start latents to refine");
  const bool refine = start.defined() && o.strength < 1.0f;
  if (refine && start.shape() != noise.shape())
    throw_eval("LTX-Video sampler: start latents " + start.describe() + " and noise " + noise.describe() + " differ in shape");
  return refine;
}

Tensor upload_rope(gpu::Context& gc, const gpu::RopeTables& r, Tensor& sin) {
  sin = Tensor::from_floats(gc, r.sin, {r.length, r.width});
  return Tensor::from_floats(gc, r.cos, {r.length, r.width});
}

// The flow-matching Euler steps first_step .. steps - 1 on t.x, then the video's tokens unpacked to
// [1, C, F, h, w]. Conditioned tokens (mask m > 0) run at timestep min(t, 1000(1 - m)) and stay unchanged
// until the step whose sigma is below 1 - m (never for m = 1); from then on they move with the per-token
// step of FlowMatchEulerDiscreteScheduler (from sigma = timestep / 1000 to the largest sigma of the schedule
// below it), as LTXConditionPipeline runs them.
Tensor denoise(LtxTransformer& model, gpu::Context& gc, Tokens& t, const Tensor& noise, const LtxConditioning& cond,
               const LtxConditioning* negative, const LtxSamplerOptions& o, const FlowMatchSchedule& sched, int first_step,
               const LtxStepCallback& on_step, const LtxStepCallback& on_tokens = {}) {
  const bool cfg = o.guidance > 1.0f;
  const int64_t N = t.x.dim(1), S = N - t.appended;
  // The batch [uncond, cond] shares one forward; so do the masks.
  const Tensor context = cfg ? [&] {
    gpu::CommandStream s(gc);
    Tensor c = gpu::concat(s, {negative->embeds, cond.embeds}, 0);
    s.finish();
    return c;
  }() : cond.embeds;
  std::vector<float> mask;
  if (cfg) mask = negative->mask;
  mask.insert(mask.end(), cond.mask.begin(), cond.mask.end());
  const int64_t B = cfg ? 2 : 1;

  // Re-noising writes into x: keep the first tokens apart from it.
  const std::vector<std::pair<int64_t, int64_t>> hard = t.renoise && o.cond_noise_scale > 0.0f ? hard_runs(t.mask)
                                                                                              : std::vector<std::pair<int64_t, int64_t>>{};
  const Tensor init = t.x;
  if (!hard.empty()) {
    gpu::CommandStream s(gc);
    t.x = gpu::cast(s, init, gpu::DType::F32);
    s.finish();
  }
  const uint64_t blocks = static_cast<uint64_t>((t.x.numel() + 3) / 4);

  for (int i = first_step; i < o.steps; ++i) {
    const float ts = sched.timesteps[static_cast<size_t>(i)];
    if (!hard.empty()) {
      // add_noise_to_image_conditioning_latents: init + scale·noise·(t/1000)², on the hard tokens only.
      gpu::CommandStream s(gc);
      const float tt = ts / 1000.0f;
      const Tensor noise = gpu::normal_noise(s, t.x.shape(), o.cond_noise_seed, o.cond_noise_offset + static_cast<uint64_t>(i) * blocks);
      const Tensor noised = gpu::axpby(s, 1.0f, init, o.cond_noise_scale * (tt * tt), noise);
      for (const auto& [first, count] : hard) gpu::copy_into(s, gpu::narrow(noised, 1, first, count), gpu::narrow(t.x, 1, first, count));
      s.finish();
    }
    std::vector<float> timesteps, step;  // step: the per-token step sizes (empty: one for all)
    if (t.mask.empty()) {
      timesteps.assign(static_cast<size_t>(B), ts);
    } else {
      std::vector<float> per_token(static_cast<size_t>(N));
      step.assign(static_cast<size_t>(N), 0.0f);
      for (int64_t k = 0; k < N; ++k) {
        const float m = t.mask[static_cast<size_t>(k)];
        const float tk = std::min(ts, (1.0f - m) * 1000.0f);
        per_token[static_cast<size_t>(k)] = tk;
        if (!(ts / 1000.0f - 1e-6f < 1.0f - m)) continue;  // still held
        if (!t.per_token_steps) {
          step[static_cast<size_t>(k)] = sched.sigmas[static_cast<size_t>(i + 1)] - sched.sigmas[static_cast<size_t>(i)];
          continue;
        }
        const float sigma = tk / 1000.0f;
        float next = 0.0f;
        for (float sg : sched.sigmas)
          if (sg < sigma - 1e-6f) next = std::max(next, sg);
        step[static_cast<size_t>(k)] = next - sigma;
      }
      for (int64_t b = 0; b < B; ++b) timesteps.insert(timesteps.end(), per_token.begin(), per_token.end());
    }
    gpu::CommandStream s(gc);
    const Tensor input = cfg ? gpu::concat(s, {t.x, t.x}, 0) : t.x;
    const Tensor pred = model.forward(s, input, context, mask, timesteps, t.cos, t.sin);
    Tensor v = pred;
    if (cfg) {
      const Tensor u = gpu::narrow(pred, 0, 0, 1), p = gpu::narrow(pred, 0, 1, 1);
      v = gpu::axpby(s, 1.0f, u, o.guidance, gpu::sub(s, p, u));  // u + g·(p − u)
    }
    if (step.empty()) {
      t.x = gpu::axpby(s, 1.0f, t.x, sched.sigmas[static_cast<size_t>(i + 1)] - sched.sigmas[static_cast<size_t>(i)], v);
    } else {
      // Per-token step sizes, uploaded after the forward so that what the transformer plans with is
      // ltx_sampler_device_bytes exactly.
      t.x = gpu::add(s, t.x, gpu::mul(s, v, Tensor::from_floats(gc, step, {1, N, 1})));
    }
    s.finish();
    if (on_step) on_step(i + 1 - first_step, o.steps - first_step, gpu::narrow(t.x, 1, t.appended, S));
    if (on_tokens) on_tokens(i + 1 - first_step, o.steps - first_step, t.x);
  }
  gpu::CommandStream s(gc);
  Tensor out = gpu::unpatchify(s, gpu::narrow(t.x, 1, t.appended, S), {noise.dim(2), noise.dim(3), noise.dim(4)}, {1, 1, 1},
                               noise.dim(1), gpu::PatchOrder::ChannelMajor);
  s.finish();
  return out;
}

}  // namespace

Tensor ltx_sample(LtxTransformer& model, gpu::Context& gc, const Tensor& noise, const LtxConditioning& cond,
                  const LtxConditioning* negative, const LtxSamplerOptions& o, const Tensor& first_frame,
                  const LtxStepCallback& on_step, const Tensor& start) {
  const LtxTransformerConfig& c = model.config();
  const bool refine = check_run(c, noise, cond, negative, o, start);
  const int64_t F = noise.dim(2), h = noise.dim(3), w = noise.dim(4), S = F * h * w, frame_tokens = h * w;
  if (first_frame.defined() && (first_frame.rank() != 5 || first_frame.dim(1) != noise.dim(1) || first_frame.dim(2) != 1 ||
                                first_frame.dim(3) != h || first_frame.dim(4) != w))
    throw_eval("LTX-Video sampler: first-frame latent " + first_frame.describe() + " should be [1, " +
               std::to_string(noise.dim(1)) + ", 1, " + std::to_string(h) + ", " + std::to_string(w) + "]");
  if (first_frame.defined() && (o.image_index < 0 || o.image_index >= F))
    throw_eval("LTX-Video sampler: image_index " + std::to_string(o.image_index) + " is outside the video's " +
               std::to_string(F) + " latent frames (0.." + std::to_string(F - 1) + ")");
  const FlowMatchSchedule sched = ltx_schedule(o, S);
  const int first_step = refine ? ltx_start_step(o) : 0;
  if (first_step >= o.steps) throw_eval("LTX-Video sampler: strength " + std::to_string(o.strength) + " leaves no step to take");

  const gpu::Patch patch{1, 1, 1};
  Tokens t;
  const int64_t fixed_at = static_cast<int64_t>(o.image_index) * frame_tokens;
  {
    gpu::CommandStream s(gc);
    Tensor begin = noise;
    if (refine) begin = flow_match_noised(s, noise, start, sched.sigmas[static_cast<size_t>(first_step)]);
    t.x = gpu::patchify(s, begin, patch, gpu::PatchOrder::ChannelMajor);
    if (first_frame.defined())
      gpu::copy_into(s, gpu::patchify(s, first_frame, patch, gpu::PatchOrder::ChannelMajor), gpu::narrow(t.x, 1, fixed_at, frame_tokens));
    s.finish();
  }
  // Image conditioning (LTXImageToVideoPipeline): the image's tokens fully conditioned, timestep 0, never moved.
  if (first_frame.defined()) {
    t.mask.assign(static_cast<size_t>(S), 0.0f);
    std::fill_n(t.mask.begin() + fixed_at, frame_tokens, 1.0f);
  }
  const std::array<float, 3> scale{static_cast<float>(o.temporal_compression) / o.frame_rate,
                                   static_cast<float>(o.spatial_compression), static_cast<float>(o.spatial_compression)};
  t.cos = upload_rope(gc, ltx_rope_tables(F, h, w, scale, c.inner_dim()), t.sin);
  return denoise(model, gc, t, noise, cond, negative, o, sched, first_step, on_step);
}

namespace {

struct ConditionedRun {
  LtxConditionGrid grid;
  FlowMatchSchedule sched;
  int first_step = 0;
  LtxConditionedTokens prepared;
};

ConditionedRun prepare_conditioned(const LtxTransformerConfig& c, gpu::Context& gc, const Tensor& noise, const LtxConditioning& cond,
                                   const LtxConditioning* negative, const LtxSamplerOptions& o,
                                   const std::vector<LtxCondition>& conditions, const Tensor& start) {
  const bool refine = check_run(c, noise, cond, negative, o, start);
  ConditionedRun r{{noise.dim(1), noise.dim(2), noise.dim(3), noise.dim(4), o.temporal_compression, o.spatial_compression, o.frame_rate},
                   {}, 0, {}};
  ltx_check_conditions(r.grid, conditions);
  r.sched = ltx_schedule(o, r.grid.frames * r.grid.height * r.grid.width);
  r.first_step = refine ? ltx_start_step(o) : 0;
  if (r.first_step >= o.steps) throw_eval("LTX-Video sampler: strength " + std::to_string(o.strength) + " leaves no step to take");
  Tensor begin = noise;
  if (refine) {
    gpu::CommandStream s(gc);
    begin = flow_match_noised(s, noise, start, r.sched.sigmas[static_cast<size_t>(r.first_step)]);
    s.finish();
  }
  r.prepared = ltx_condition_tokens(r.grid, begin.to_floats(), conditions);
  return r;
}

}  // namespace

LtxConditionedTokens ltx_prepare_conditioned(const LtxTransformerConfig& c, gpu::Context& gc, const Tensor& noise,
                                             const LtxSamplerOptions& o, const std::vector<LtxCondition>& conditions,
                                             const Tensor& start) {
  // No conditioning is needed to prepare: an unguided run's checks are the ones that concern the tokens.
  LtxSamplerOptions unguided = o;
  unguided.guidance = 1.0f;
  return prepare_conditioned(c, gc, noise, {}, nullptr, unguided, conditions, start).prepared;
}

Tensor ltx_sample_conditioned(LtxTransformer& model, gpu::Context& gc, const Tensor& noise, const LtxConditioning& cond,
                              const LtxConditioning* negative, const LtxSamplerOptions& o,
                              const std::vector<LtxCondition>& conditions, const LtxStepCallback& on_step, const Tensor& start,
                              const LtxStepCallback& on_tokens) {
  const LtxTransformerConfig& c = model.config();
  const ConditionedRun r = prepare_conditioned(c, gc, noise, cond, negative, o, conditions, start);
  const LtxConditionedTokens& prepared = r.prepared;
  const LtxConditionGrid& grid = r.grid;
  Tokens t;
  t.x = Tensor::from_floats(gc, prepared.packed, {1, static_cast<int64_t>(prepared.mask.size()), grid.channels});
  t.mask = prepared.mask;
  t.appended = prepared.appended;
  t.renoise = true;
  t.per_token_steps = true;
  t.cos = upload_rope(gc, ltx_rope_tables(prepared.coords, c.inner_dim()), t.sin);
  return denoise(model, gc, t, noise, cond, negative, o, r.sched, r.first_step, on_step, on_tokens);
}

uint64_t ltx_sampler_device_bytes(const LtxTransformerConfig& c, const LtxSamplerFootprint& f) {
  // f32 values, as ltx_sample() and ltx_sample_conditioned() make them before the first forward: the noise,
  // the packed tokens (appended ones included), with CFG their batch of two, the text states, the RoPE
  // tables, and what the caller holds (image, conditions, start latents). (Step temporaries, the image's
  // packed copy and the prepared latents are released before it.)
  const uint64_t S = static_cast<uint64_t>(f.tokens), N = S + static_cast<uint64_t>(f.appended_tokens);
  const uint64_t I = static_cast<uint64_t>(c.in_channels);
  const uint64_t text = static_cast<uint64_t>(f.text_tokens) * static_cast<uint64_t>(c.caption_channels);
  uint64_t n = S * I + N * I + (f.cfg ? 2 * N * I + 4 * text : text) + 2 * N * static_cast<uint64_t>(c.inner_dim());
  n += static_cast<uint64_t>(f.image_tokens + f.condition_tokens) * I;
  if (f.start) n += S * I;
  // Re-noising: the first tokens kept beside x (the step's noise is released before the forward).
  if (f.renoise) n += N * I;
  return 4 * n;
}

}  // namespace lattice
