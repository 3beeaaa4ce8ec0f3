#pragma once
/// Sinusoidal timestep embedding, as diffusers' `Timesteps(num_channels, flip_sin_to_cos,
/// downscale_freq_shift, scale)` / `get_timestep_embedding` with max_period 10000:
///   half = C/2, f_i = exp(-ln(10000)·i / (half - downscale_freq_shift)), arg = scale·t·f_i,
///   out[b] = [sin(arg), cos(arg)] or [cos(arg), sin(arg)] when flip_sin_to_cos, plus one zero column
///   when C is odd.
/// Input: t [B] f32 (any stride; FLUX callers multiply by 1000 first). Output: new contiguous f32 [B, C].
/// Accuracy: each step rounds like PyTorch's float32 ops; exp/sin/cos are within ~1 ulp, so the result is
/// within about 2e-6 + 3e-7·|t·scale| absolute of PyTorch on CPU (the argument's own rounding dominates
/// for large t). Arguments beyond |8192| lose accuracy (range reduction). One dispatch; nothing submitted.

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

struct TimestepEmbeddingParams {
  int64_t channels = 256;
  bool flip_sin_to_cos = true;
  float downscale_freq_shift = 0.0f;
  float scale = 1.0f;
};

Tensor timestep_embedding(CommandStream& stream, const Tensor& t, const TimestepEmbeddingParams& params);

}  // namespace lattice::gpu
