#pragma once
/// LTXConditionPipeline's conditions (diffusers v0.33+, prepare_latents), prepared on the host from encoded
/// latents: what ltx_sample_conditioned() (sampler.h) denoises.
///
/// A condition is a normalised latent [1, C, f, h, w] (an image: f = 1; a clip of 8(f - 1) + 1 frames), the
/// video frame where its first frame goes (frame_index, in pixel frames as the reference counts them: 0 ..
/// num_frames - 1, num_frames = 8(F - 1) + 1 for F latent frames) and a strength in [0, 1]:
///  - frame_index 0: the video's first f latent frames become lerp(latents, condition, strength) and their
///    tokens get conditioning strength `strength`;
///  - frame_index > 0: the condition's first min(f, 2) latent frames, lerp(noise, condition, strength), are
///    appended as extra tokens (placed before the video's, in the order given) with strength `strength` and
///    their own positions: latent frame j of the condition sits at pixel frame frame_index + max(0, 8j - 7);
///    a clip's latent frames from the third on replace video latent frames frame_index / 8 + 2 .. as at frame 0.
/// Positions (RoPE's video_coords): video latent frame k sits at pixel frame max(0, 8k - 7) (not 8k as in
/// LTXPipeline), divided by frame_rate; y and x are latent row and column times 32. Conditions apply in order;
/// a later one overwrites the frames an earlier one set. A clip that runs past the video's end is trimmed as
/// the reference trims it (trim_conditioning_sequence: the 8k + 1 frames that fit from frame_index); the
/// reference trims the pixel frames before it encodes them, and as LTX's encoder is causal the latent of those
/// frames is the first k + 1 latent frames of the whole clip's (ltx_condition_frames).

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "gpu/tensor.h"

namespace lattice {

struct LtxCondition {
  gpu::Tensor latent;     ///< [1, C, f, h, w], normalised (ltx.encode_image, ltx.encode_video)
  int frame_index = 0;    ///< pixel frame of the condition's first frame (0 .. num_frames - 1)
  float strength = 1.0f;  ///< 0 .. 1
  /// N(0, 1) [1, C, min(f, 2), h, w] blended into an appended condition (frame_index > 0) with strength < 1
  /// (LTXConditionPipeline draws it after the video's noise); unused otherwise.
  gpu::Tensor noise;
  std::string name;  ///< how errors name it (empty: "condition <position in the list, from 1>")
};

/// The latent video the conditions apply to and the VAE's compression.
struct LtxConditionGrid {
  int64_t channels, frames, height, width;  ///< latent [1, C, F, h, w]
  int temporal_compression = 8, spatial_compression = 32;
  float frame_rate = 25.0f;
  int64_t pixel_frames() const { return (frames - 1) * temporal_compression + 1; }
};

struct LtxConditionedTokens {
  std::vector<float> packed;  ///< [(E + S), C]: the appended conditions' tokens, then the video's (f, h, w order)
  std::vector<float> mask;    ///< E + S conditioning strengths (0: denoised from the first step)
  std::vector<std::array<float, 3>> coords;  ///< E + S RoPE positions (seconds, pixels, pixels)
  int64_t appended = 0;       ///< E
};

/// Throws an Error naming the condition and what was expected: InvalidInput for a latent of the wrong shape (the
/// user connected it), Evaluation for a frame_index outside the video, a strength outside [0, 1], missing noise
/// (the caller's to get right).
void ltx_check_conditions(const LtxConditionGrid& g, const std::vector<LtxCondition>& conditions);

/// video: the latents [C, F, h, w] (noise, or noised start latents) the conditions apply to.
LtxConditionedTokens ltx_condition_tokens(const LtxConditionGrid& g, const std::vector<float>& video,
                                          const std::vector<LtxCondition>& conditions);

/// Latent frames of a condition of f latent frames at frame_index (0 <= frame_index < pixel_frames) that
/// the video uses: all f where the clip fits, else the first k + 1 where 8k + 1 video frames are what fits
/// from frame_index (the reference's trim_conditioning_sequence).
inline int64_t ltx_condition_frames(int64_t f, int frame_index, int64_t pixel_frames, int temporal_compression = 8) {
  if (frame_index < 0 || frame_index >= pixel_frames) return 0;  // refused by ltx_check_conditions
  const int64_t fit = (pixel_frames - frame_index - 1) / temporal_compression + 1;
  return f < fit ? f : fit;
}

/// Latent frames a condition of f latent frames at frame_index appends (min(used, 2) at frame_index > 0,
/// used = ltx_condition_frames, else 0); times h·w tokens. For the noise it blends in and device plans.
inline int64_t ltx_appended_frames(int64_t f, int frame_index, int64_t pixel_frames, int temporal_compression = 8) {
  const int64_t used = ltx_condition_frames(f, frame_index, pixel_frames, temporal_compression);
  return frame_index > 0 ? (used < 2 ? used : 2) : 0;
}

}  // namespace lattice
