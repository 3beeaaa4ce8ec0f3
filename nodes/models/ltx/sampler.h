#pragma once
/// LTX-Video sampling as LTXPipeline (text-to-video) and LTXImageToVideoPipeline (first frame from an image)
/// run it (diffusers v0.33): flow-matching Euler steps with LTX's schedule (dynamic shift from the video's
/// token count, stretched so that the last sigma is shift_terminal), classifier-free guidance with the
/// unconditional and conditional passes batched into one forward, and RoPE scaled by
/// (temporal compression / frame rate, spatial compression, spatial compression).
///
/// Latents are in the transformer's space (normalised with the VAE's latents_mean/std), [1, C, F, h, w];
/// tokens are packed (f, h, w) row-major with patch 1. Image conditioning (ltx_sample) puts the image's latent
/// at latent frame `image_index` (0, the first frame, as LTXImageToVideoPipeline does): its tokens get timestep 0
/// and are left unchanged by every step. ltx_sample_conditioned() conditions as LTXConditionPipeline does
/// (a list of image or clip latents, each at a pixel frame with a strength; later frames as appended keyframe
/// tokens). Both submit once per step and return the final latents [1, C, F, h, w].

#include <functional>

#include "nodes/models/flow_match.h"
#include "nodes/models/ltx/conditions.h"
#include "nodes/models/ltx/transformer.h"

namespace lattice {

/// LTX-Video's scheduler (scheduler/scheduler_config.json of the released pipelines).
FlowMatchConfig ltx_flow_match_config();

struct LtxSamplerOptions {
  int steps = 50;
  float guidance = 3.0f;      ///< CFG scale; <= 1 runs the conditional pass only
  float frame_rate = 25.0f;   ///< frames per second of the output (RoPE's time scale)
  int temporal_compression = 8, spatial_compression = 32;  ///< the VAE's
  /// With start latents: denoise only the last int(steps · strength) steps, starting from
  /// sigma·noise + (1 - sigma)·start at the first sigma taken (LTXConditionPipeline's denoise_strength).
  float strength = 1.0f;
  /// The latent frame the image conditions (0 .. F - 1; latent frame k is video frame 8k).
  int image_index = 0;
  /// ltx_sample_conditioned only (LTXConditionPipeline's image_cond_noise_scale; its default is 0.15): before each
  /// step the fully conditioned tokens (strength 1) become their first value + scale·(t/1000)²·N(0, 1), the noise
  /// drawn for the step from (cond_noise_seed, cond_noise_offset + step·blocks), blocks = Philox blocks of the
  /// tokens (gpu/ops/noise.h). 0: they stay as given.
  float cond_noise_scale = 0.0f;
  uint64_t cond_noise_seed = 0, cond_noise_offset = 0;
  FlowMatchConfig schedule = ltx_flow_match_config();
  /// LTXConditionPipeline's default sigmas instead (ltx_linear_quadratic_sigmas): passed as timesteps (σ·1000),
  /// so the config's static shift and shift_terminal apply but not its dynamic shift (that pipeline gives no mu).
  bool linear_quadratic = false;
};

struct LtxConditioning {
  gpu::Tensor embeds;        ///< [1, L, caption_channels]
  std::vector<float> mask;   ///< L values, 1 = token
};

/// LTX-Video's linear_quadratic_schedule (ltx_video/schedulers/rf.py, LTXConditionPipeline's default): `steps`
/// sigmas from 1 down, the first steps/2 falling linearly by threshold_noise in all, the rest quadratically
/// towards 0 (the last above it); float64, then float32. [1] for one step.
std::vector<float> ltx_linear_quadratic_sigmas(int steps, double threshold_noise = 0.025);

/// The sigmas and timesteps for a latent grid of `tokens` tokens. With shift_terminal (LTX's) at least 2 steps:
/// stretching the single sigma 1 to it divides 0 by 0 (Error(Evaluation) says so).
FlowMatchSchedule ltx_schedule(const LtxSamplerOptions& o, int64_t tokens);

/// Called after each step with the packed latents [1, F·h·w, C] (tokens in (f, h, w) order).
using LtxStepCallback = std::function<void(int step, int total, const gpu::Tensor& packed)>;

/// The index of the first step taken for a strength (0 for strength 1).
int ltx_start_step(const LtxSamplerOptions& o);

/// noise [1, C, F, h, w] (N(0, 1)); first_frame: optional [1, C, 1, h, w] normalised latent of the
/// conditioning image, put at latent frame o.image_index (LTXImageToVideoPipeline); start: optional
/// [1, C, F, h, w] latents to refine (used when strength < 1). negative is required when guidance > 1
/// (LTXPipeline encodes "" by default).
gpu::Tensor ltx_sample(LtxTransformer& model, gpu::Context& gc, const gpu::Tensor& noise, const LtxConditioning& cond,
                       const LtxConditioning* negative, const LtxSamplerOptions& o, const gpu::Tensor& first_frame = {},
                       const LtxStepCallback& on_step = {}, const gpu::Tensor& start = {});

/// As LTXConditionPipeline conditions (conditions.h: frame 0 replaced and blended by strength, later frames
/// appended as extra tokens at their own positions, dropped at the end; RoPE positions of that pipeline),
/// with this sampler's schedule (o.schedule, or the pipeline's default with o.linear_quadratic) and its
/// image_cond_noise_scale as o.cond_noise_scale. o.image_index is not used. The per-token steps are FlowMatchEulerDiscreteScheduler's with per_token_timesteps.
/// on_tokens, when given, sees every token after each step ([1, E + S, C], the appended conditions' first), as
/// the pipeline's latents are before it drops the appended ones (reference fixtures compare them).
gpu::Tensor ltx_sample_conditioned(LtxTransformer& model, gpu::Context& gc, const gpu::Tensor& noise,
                                   const LtxConditioning& cond, const LtxConditioning* negative, const LtxSamplerOptions& o,
                                   const std::vector<LtxCondition>& conditions, const LtxStepCallback& on_step = {},
                                   const gpu::Tensor& start = {}, const LtxStepCallback& on_tokens = {});

/// The tokens ltx_sample_conditioned() starts from: the conditions applied (conditions.h) to the noise, or with start
/// latents and o.strength < 1 to sigma·noise + (1 − sigma)·start at the first sigma taken. Checks as it does.
LtxConditionedTokens ltx_prepare_conditioned(const LtxTransformerConfig& c, gpu::Context& gc, const gpu::Tensor& noise,
                                             const LtxSamplerOptions& o, const std::vector<LtxCondition>& conditions,
                                             const gpu::Tensor& start = {});

/// What ltx_sample() or ltx_sample_conditioned() and their caller (ltx.sample) hold on the device when the
/// transformer plans its first forward, in tokens (h·w per latent frame).
struct LtxSamplerFootprint {
  int64_t tokens = 0;            ///< the video's, F·h·w
  int64_t text_tokens = 0;       ///< per prompt
  bool cfg = false;              ///< guidance > 1: the negative too, and a batch of two
  int64_t image_tokens = 0;      ///< ltx_sample's image latent (h·w), 0 without one
  int64_t appended_tokens = 0;   ///< conditions' appended tokens (ltx_appended_frames · h·w summed)
  int64_t condition_tokens = 0;  ///< the conditions' latents and noise as the caller holds them
  bool start = false;            ///< start latents uploaded (whether or not strength < 1 uses them)
  bool renoise = false;          ///< cond_noise_scale > 0 with conditions: the first tokens kept beside them
};

/// The device bytes of that footprint, beside the weights (so that the dry run's plan counts what the run's
/// plan finds in use): noise, packed tokens (with CFG also the batch of two), text states (with CFG the
/// negative's and both concatenated), RoPE tables, and the caller's inputs.
uint64_t ltx_sampler_device_bytes(const LtxTransformerConfig& c, const LtxSamplerFootprint& f);

}  // namespace lattice
