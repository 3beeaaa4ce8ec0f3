#include "nodes/models/flux/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/percentile_clamp.h"
#include "gpu/ops/rope.h"

namespace lattice {

using gpu::Tensor;

FlowMatchConfig flux_dev_scheduler() { return {.shift = 3.0, .use_dynamic_shifting = true, .base_shift = 0.5, .max_shift = 1.15}; }

FlowMatchConfig flux_schnell_scheduler() { return {.shift = 1.0, .use_dynamic_shifting = false}; }

FlowMatchConfig flux_scheduler_for(const FluxConfig& c) { return c.guidance_embeds ? flux_dev_scheduler() : flux_schnell_scheduler(); }

FluxSamplerOptions::FluxSamplerOptions() : schedule(flux_dev_scheduler()) {}

float flux_step_progress(int i, int steps) { return steps > 1 ? static_cast<float>(i) / static_cast<float>(steps - 1) : 0.0f; }

bool flux_cfg_at_step(const FluxSamplerOptions& o, int i, int steps) {
  const float progress = flux_step_progress(i, steps);
  return progress >= o.cfg_start && progress <= o.cfg_end;
}

FlowMatchSchedule flux_schedule(const FluxSamplerOptions& o, int64_t latent_h, int64_t latent_w) {
  if (o.steps < 1) throw_eval("FLUX sampler: steps must be at least 1");
  const int seq = static_cast<int>((latent_h / 2) * (latent_w / 2));
  std::optional<double> mu;
  if (o.schedule.use_dynamic_shifting) mu = flow_match_mu(o.schedule, seq);
  return flow_match_schedule(o.schedule, flow_match_pipeline_sigmas(o.steps), mu);
}

int flux_start_step(const FluxSamplerOptions& o) {
  // FluxImg2ImgPipeline.get_timesteps, in doubles as Python computes it (f32 gives 9 for 25 steps at 0.6).
  const double init = std::min(static_cast<double>(o.steps) * o.strength, static_cast<double>(o.steps));
  return static_cast<int>(std::max(static_cast<double>(o.steps) - init, 0.0));
}

void check_flux_control(const FluxConfig& c, const gpu::Shape& latents, const gpu::Shape* control) {
  const int channels = c.control_channels();
  if (channels == 0 && c.in_channels != c.out_channels)
    throw_invalid("the transformer's x_embedder takes " + std::to_string(c.in_channels) + " channels, neither the latent's " +
                  std::to_string(c.out_channels) + " nor latent + control (" + std::to_string(2 * c.out_channels) +
                  "); other conditioned FLUX variants (e.g. Fill) are not supported");
  if (channels > 0 && !control)
    throw_invalid("the transformer is a structural-control model (x_embedder takes " + std::to_string(c.in_channels) + " channels: " +
                  std::to_string(c.out_channels) + " latent + " + std::to_string(channels) +
                  " control); connect the control image's latents (vae.encode) to input 'control'");
  if (!control) return;
  if (channels == 0)
    throw_invalid("input 'control' is connected, but the transformer has no control channels (x_embedder takes " +
                  std::to_string(c.in_channels) + "); use FLUX.1-Canny/Depth-dev or apply a control LoRA (lora.apply) at a "
                  "strength other than 0 (at 0 it leaves the model as it was)");
  if (*control != latents)
    throw_invalid("control latents " + gpu::shape_string(*control) + " and noise " + gpu::shape_string(latents) +
                  " differ in shape; encode a control image of the output's size");
}

Tensor flux_control_input(gpu::CommandStream& s, const Tensor& latents, const Tensor& control) {
  return gpu::concat(s, {latents, control}, 2);
}

Tensor flux_sample(FluxTransformer& model, gpu::Context& ctx, const Tensor& latents, int64_t latent_h, int64_t latent_w,
                   const FluxConditioning& cond, const FluxConditioning* negative, const FluxSamplerOptions& o,
                   const FluxStepCallback& on_step, std::vector<FluxStepRecord>* records,
                   const std::function<void(int, const Tensor&)>& on_prediction, const Tensor* control) {
  const int64_t B = latents.dim(0), S = latents.dim(1);
  if (S != (latent_h / 2) * (latent_w / 2)) throw_eval("FLUX sampler: latents " + latents.describe() + " do not match the size");
  // The transformer's input at a step: the latents, with the control latents after them on channels.
  auto input = [&](gpu::CommandStream& s, const Tensor& x) { return control ? flux_control_input(s, x, *control) : x; };
  const FlowMatchSchedule sched = flux_schedule(o, latent_h, latent_w);
  const int n = static_cast<int>(sched.timesteps.size());

  // RoPE tables for [text, image] tokens; text ids are zeros. A negative prompt may differ in length.
  auto tables = [&](int64_t text_len) {
    std::vector<float> ids(static_cast<size_t>(text_len * 3), 0.0f);
    const auto img = flux_image_ids(latent_h, latent_w);
    ids.insert(ids.end(), img.begin(), img.end());
    const auto& a = model.config().axes_dims_rope;
    const int64_t axes[3] = {a[0], a[1], a[2]};
    const gpu::RopeTables t = gpu::flux_rope_tables(ids, axes);
    return std::pair{Tensor::from_floats(ctx, t.cos, {t.length, t.width}), Tensor::from_floats(ctx, t.sin, {t.length, t.width})};
  };
  const auto [cos, sin] = tables(cond.prompt_embeds.dim(1));
  std::pair<Tensor, Tensor> neg_rope;
  const bool use_cfg = negative && o.true_cfg > 1.0f;
  if (use_cfg) neg_rope = tables(negative->prompt_embeds.dim(1));

  const std::vector<float> guidance(static_cast<size_t>(B), o.guidance);
  FluxStepCache cache, neg_cache;
  cache.threshold = neg_cache.threshold = o.cache_threshold;
  Tensor x = latents;
  for (int i = flux_start_step(o); i < n; ++i) {
    gpu::CommandStream s(ctx);
    const float t = sched.timesteps[static_cast<size_t>(i)];
    const std::vector<float> tin(static_cast<size_t>(B), t / 1000.0f);
    const Tensor hidden = input(s, x);
    Tensor v = model.forward(s, hidden, cond.prompt_embeds, cond.pooled, tin, guidance, cos, sin, &cache);
    const bool guided = use_cfg && flux_cfg_at_step(o, i, n);
    if (guided) {
      const float progress = flux_step_progress(i, n);
      const float scale = o.cfg_curve ? 1.0f + (o.true_cfg - 1.0f) * std::sin(static_cast<float>(M_PI) * progress) : o.true_cfg;
      const Tensor vn = model.forward(s, hidden, negative->prompt_embeds, negative->pooled, tin, guidance, neg_rope.first,
                                      neg_rope.second, &neg_cache);
      v = gpu::axpby(s, 1.0f, vn, scale, gpu::sub(s, v, vn));  // vn + scale·(v − vn)
    }
    const float sigma = sched.sigmas[static_cast<size_t>(i)], sigma_next = sched.sigmas[static_cast<size_t>(i + 1)];
    if (o.threshold_percentile > 0.0f && sigma > 0.0f) {
      // Dynamic thresholding on the device, per sample: x0 = x - sigma*v clamped at its percentile (at
      // least 1), v recomputed from the clamped x0.
      const Tensor sg = Tensor::from_floats(ctx, std::vector<float>{sigma}, {1});
      const Tensor x0 = gpu::percentile_clamp(s, gpu::binary(s, gpu::BinaryOp::Sub, x, v, 1.0f, sigma), o.threshold_percentile, 1.0f);
      v = gpu::div(s, gpu::sub(s, x, x0), sg);
    }
    if (on_prediction) {
      s.finish();
      on_prediction(i, v);
    }
    // Euler: x + (sigma_next - sigma) * v, in f32 as the scheduler does.
    x = gpu::axpby(s, 1.0f, x, sigma_next - sigma, v);
    s.finish();
    if (records) records->push_back({t, guided, cache.last_skipped});
    if (on_step) on_step(i + 1, n, x);
  }
  return x;
}

uint64_t flux_sampler_device_bytes(const FluxConfig& c, int64_t latent_h, int64_t latent_w, int64_t text_tokens,
                                   int64_t negative_tokens, bool cfg, bool image, bool control) {
  const uint64_t latent = static_cast<uint64_t>(c.out_channels / 4) * static_cast<uint64_t>(latent_h * latent_w);
  const uint64_t S = static_cast<uint64_t>((latent_h / 2) * (latent_w / 2));
  auto text = [&](int64_t tokens) {
    return static_cast<uint64_t>(tokens) * static_cast<uint64_t>(c.joint_attention_dim) + static_cast<uint64_t>(c.pooled_projection_dim);
  };
  auto rope = [&](int64_t tokens) { return 2 * (static_cast<uint64_t>(tokens) + S) * static_cast<uint64_t>(c.attention_head_dim); };
  uint64_t n = 2 * latent + text(text_tokens) + rope(text_tokens);
  if (negative_tokens > 0) n += text(negative_tokens);
  if (cfg && negative_tokens > 0) n += rope(negative_tokens);
  if (image) n += latent;
  if (control) n += 4 * latent;  // control latent and its packed tokens, the [latents, control] input (2 latents)
  return 4 * n;
}

}  // namespace lattice
