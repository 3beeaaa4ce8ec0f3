#pragma once
/// FLUX sampling: the flow-matching Euler loop around the transformer, with FluxPipeline's schedule
/// (dynamic shift from the image token count), latent packing, and the guidance options.
///
/// Latents stay on the device through the whole loop (dynamic thresholding included: gpu::percentile_clamp);
/// the host sees them only for previews (optional). One CommandStream submission per step.

#include <functional>
#include <optional>
#include <vector>

#include "nodes/models/flow_match.h"
#include "nodes/models/flux/transformer.h"

namespace lattice {

struct FluxConditioning {
  gpu::Tensor prompt_embeds;  ///< [B, L, joint_attention_dim]
  gpu::Tensor pooled;         ///< [B, pooled_projection_dim]
};

struct FluxSamplerOptions {
  int steps = 28;
  float guidance = 3.5f;             ///< distilled guidance (FLUX-dev's guidance embedding)
  float true_cfg = 1.0f;             ///< > 1 with a negative conditioning: uncond + s*(cond - uncond)
  float cfg_start = 0.0f, cfg_end = 1.0f;  ///< fraction of steps where true CFG applies (guidance interval)
  bool cfg_curve = false;            ///< time-varying: true_cfg scaled by sin(pi * progress), low at both ends
  /// > 0: dynamic thresholding at this percentile (0..100): per sample, the denoised estimate x0 = x - sigma*v
  /// is clamped to [-s, s], s = max(1, the linear (numpy/torch.quantile default) quantile of |x0|), and v
  /// recomputed from it: v = (x - clamp(x0)) / sigma (gpu::percentile_clamp, on the device). Clamped, not
  /// divided by s as Imagen does with pixels in [-1, 1]: latents have no such range.
  float threshold_percentile = 0.0f;
  /// Image-to-image: start at this fraction of the schedule. A double (the document's value), so that
  /// flux_start_step rounds as the reference's Python floats do.
  double strength = 1.0;
  float cache_threshold = 0.0f;      ///< > 0: step caching (FluxStepCache), e.g. 0.25
  FlowMatchConfig schedule;          ///< the scheduler config (FLUX-dev's by default: flux_dev_scheduler)
  FluxSamplerOptions();
};

struct FluxStepRecord {
  float timestep = 0;  ///< scheduler t (0..1000)
  bool guided = false; ///< true CFG ran at this step
  bool cached = false; ///< the transformer's blocks were skipped (step caching)
};

/// Called after every step with the step index, the step count and the current packed latents.
using FluxStepCallback = std::function<void(int step, int total, const gpu::Tensor& packed_latents)>;

/// Runs the loop from packed `latents` [B, S, 4C] (gpu::pack_latents) (noise, or noised image latents for img2img).
/// Returns the final packed latents; `records` (if given) gets one entry per step taken.
/// `control` (packed control-image latents [B, S, control_channels], structural-control models only) is
/// concatenated after the noisy latents on channels at every step (flux_control_input); it must be what
/// check_flux_control accepts (the caller checks: flux.sample does before the model is loaded).
gpu::Tensor flux_sample(FluxTransformer& model, gpu::Context& ctx, const gpu::Tensor& latents, int64_t latent_h,
                        int64_t latent_w, const FluxConditioning& cond, const FluxConditioning* negative,
                        const FluxSamplerOptions& options, const FluxStepCallback& on_step = {},
                        std::vector<FluxStepRecord>* records = nullptr,
                        const std::function<void(int, const gpu::Tensor&)>& on_prediction = {},
                        const gpu::Tensor* control = nullptr);

/// The one check of a structural-control input against the transformer `c` and the latents it goes with (both
/// unpacked [B, C, H, W] or both packed [B, S, 4C]; `control` null when none is given): a control model (x_embedder
/// takes latent + control channels) needs one, another refuses it, and it must have the latents' shape. A model
/// whose x_embedder takes other channels (FLUX Fill...) is refused too. Error(InvalidInput) naming what disagrees.
void check_flux_control(const FluxConfig& c, const gpu::Shape& latents, const gpu::Shape* control);

/// The transformer input of a structural-control step: torch.cat([latents, control], dim=2) as
/// FluxControlPipeline builds it, both packed [B, S, ·] (check_flux_control); returns [B, S, C_latents + C_control].
gpu::Tensor flux_control_input(gpu::CommandStream& s, const gpu::Tensor& latents, const gpu::Tensor& control);

/// The device bytes flux.sample and flux_sample() hold when the transformer plans its first forward, beside
/// the weights (so that the dry run's plan counts what the run's plan finds in use): the noise latent and
/// its packed tokens, the text states and pooled vector (also the negative's, of its own `negative_tokens`, where
/// one is given: negative_tokens > 0), the RoPE tables (also the negative's with true CFG), with an image (strength < 1) its latent, with a control input the
/// control latent, its packed tokens and the concatenated input (estimated: no test holds this case to the run's
/// bytes). f32 throughout. The latent's channels are the transformer's output channels (a control model's input
/// is wider).
uint64_t flux_sampler_device_bytes(const FluxConfig& c, int64_t latent_h, int64_t latent_w, int64_t text_tokens,
                                   int64_t negative_tokens, bool cfg, bool image, bool control = false);

/// FlowMatchEulerDiscreteScheduler as FLUX.1's releases configure it (their scheduler/scheduler_config.json):
/// dev's shifts dynamically with the image's token count (shift 3, base_shift 0.5, max_shift 1.15, sequence
/// lengths 256..4096); schnell's, timestep-distilled, does not shift (shift 1, use_dynamic_shifting false).
FlowMatchConfig flux_dev_scheduler();
FlowMatchConfig flux_schnell_scheduler();
/// The scheduler of the release a transformer of config `c` belongs to, as far as its config tells: schnell's
/// when it has no guidance embedding (FLUX.1-schnell's guidance_embeds is false), dev's otherwise.
FlowMatchConfig flux_scheduler_for(const FluxConfig& c);

/// Where step i of a run of `steps` lies in it: i / (steps - 1), 0 for a single step (true CFG's interval
/// and curve are in these units).
float flux_step_progress(int i, int steps);
/// Whether true CFG runs at step i of a run of `steps` (given a negative prompt and true_cfg > 1): its
/// progress is within [cfg_start, cfg_end]. flux_sample and flux.sample's plan both count guided steps with it.
bool flux_cfg_at_step(const FluxSamplerOptions& options, int i, int steps);

/// First step for image-to-image at options.strength (0 for text-to-image), as FluxImg2ImgPipeline.
int flux_start_step(const FluxSamplerOptions& options);

/// The schedule flux_sample uses for a latent of the given size.
FlowMatchSchedule flux_schedule(const FluxSamplerOptions& options, int64_t latent_h, int64_t latent_w);

}  // namespace lattice
