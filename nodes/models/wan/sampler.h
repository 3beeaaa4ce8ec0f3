#pragma once
/// The Wan 2.1 sampler (text-to-video; image-to-video given the image condition): flow-matching steps with a static
/// shift and classifier-free guidance whose conditional and unconditional passes run as one batch-2 forward (or, to
/// halve the activation memory, one after the other).
///
/// Two schedulers: `UniPc` is WanPipeline's default, UniPCMultistepScheduler with flow sigmas and flow prediction
/// (nodes/models/unipc.h: order 2, bh2, the shift as flow_shift, integer timesteps); `Euler` (the default here, so
/// that older graphs render as before) is FlowMatchEulerDiscreteScheduler with the same shift (set_timesteps(steps)
/// without explicit sigmas), first-order, which wants more steps for the same quality.
///
/// Video-to-video (WanVideoToVideoPipeline): given start latents (the normalised latents of wan.vae_encode) and
/// strength < 1, only the last int(steps·strength) steps run, from sigma·noise + (1 − sigma)·start at the first
/// sigma taken (nodes/models/flow_match.h), UniPC beginning there with an empty history as the reference's
/// set_begin_index does.
///
/// Shapes: noise [1, 16, T, h, w] (out_channels) with T = (frames - 1)/4 + 1, h = height/8, w = width/8 (h, w even);
/// conditioning [1, L, text_dim]; negative the same L. Returns the final latent, same shape as the noise.

#include <functional>

#include "nodes/models/flow_match.h"
#include "nodes/models/unipc.h"
#include "nodes/models/wan/transformer.h"

namespace lattice {

enum class WanScheduler { Euler, UniPc };

struct WanSamplerOptions {
  int steps = 50;
  float guidance = 5.0f;  ///< CFG scale; <= 1 runs the conditional pass alone
  double shift = 5.0;     ///< 5.0 for 720p, 3.0 for 480p
  bool batch_cfg = true;  ///< both CFG passes as one batch-2 forward; false: two batch-1 forwards (half the activations)
  WanScheduler scheduler = WanScheduler::Euler;
  int solver_order = 2;   ///< UniPC's order (1..3)
  float strength = 1.0f;  ///< with start latents: the share of the steps taken on them, (0, 1]; 1 ignores them
};

/// The index of the first step taken for the options' strength (0 for strength 1).
int wan_start_step(const WanSamplerOptions& o);

/// The schedule the sampler walks: n + 1 sigmas and n raw timesteps (sigma · 1000; UniPC: truncated to integers).
FlowMatchSchedule wan_schedule(const WanSamplerOptions& o);

/// The UniPC settings WanPipeline uses, with the options' shift and order.
UniPcConfig wan_unipc_config(const WanSamplerOptions& o);

/// Latent [1, 16, T, h, w] for a video; throws Error(InvalidInput) unless frames = 4k + 1 and width, height
/// are positive multiples of 16.
std::vector<int64_t> wan_latent_shape(int64_t frames, int64_t height, int64_t width, int64_t channels = 16);

using WanStepCallback = std::function<void(int step, int total)>;

/// Image-to-video conditioning (WanImageToVideoPipeline): the CLIP ViT-H/14 penultimate hidden states
/// [1, 257, image_dim] of the first frame, and the condition latent [1, in_channels - 16, T, h, w] (4 mask
/// channels, then the VAE latent of the first frame followed by zeros) concatenated to the noisy latent on
/// every step. Both passes of CFG see the same image.
struct WanImageCondition {
  gpu::Tensor embeds, latent;
};

/// What a sampling run chose by itself.
struct WanSampleReport {
  /// Batched CFG was asked for, but its forward could not be planned under the device budget (not even streaming
  /// the blocks) while the batch-1 forwards could: the passes ran in turn (same result, half the activations).
  bool cfg_in_turn_to_fit = false;
};

/// Samples from `noise`; `image` is required for I2V models and must be null for T2V ones. `start`: optional latents
/// of the noise's shape to refine (used when o.strength < 1, required then). on_step counts the steps taken.
/// With o.batch_cfg, checks before the first forward that the batch-2 forward fits the device budget beside what the
/// sampler will hold (wan_sampler_device_bytes); where it does not and the batch-1 one does, runs CFG in turn and
/// says so in `report`.
gpu::Tensor wan_sample(WanTransformer& model, gpu::Context& ctx, const gpu::Tensor& noise, const gpu::Tensor& cond,
                       const gpu::Tensor& negative, const WanSamplerOptions& o, const WanStepCallback& on_step = {},
                       const WanImageCondition* image = nullptr, const gpu::Tensor& start = {},
                       WanSampleReport* report = nullptr);

/// The device bytes wan.sample and wan_sample() hold when the transformer plans its first forward, beside the
/// weights (so that the dry run's plan counts what the run's plan finds in use): the noise of `latent_grid`
/// (T·h·w) positions, the text states of `text_tokens` (also the negative's where one is given), for I2V
/// the image embedding of `image_tokens`, the condition latent and the step's
/// [noise, condition] input, with batched CFG the batch-2 text states, image embedding and input; refining given
/// latents (video-to-video), those and the noised start. f32.
uint64_t wan_sampler_device_bytes(const WanConfig& c, int64_t latent_grid, int64_t text_tokens, int64_t image_tokens,
                                  bool negative, bool batched, bool refine = false);

}  // namespace lattice
