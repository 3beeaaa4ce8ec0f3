#pragma once
/// A VAE encoder's diagonal Gaussian on the device (diffusers' DiagonalGaussianDistribution): its moments split
/// into mean and clamped log-variance (split_moments, shared by every encoder), and a latent drawn from it
/// (.sample(): mean + exp(logvar / 2) · n) for the encode nodes' `sample` and `seed` parameters.
///
/// n is Lattice's seeded counter-based noise (gpu/ops/noise.h) for the seed at offset 2^44 (kEncodeNoiseOffset),
/// so a latent.noise of the same seed (offset 0) draws another stream, as one diffusers generator would; the
/// device draws exactly normal_noise_cpu's values, so a CPU reference of the same noise reproduces a sample.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/node.h"
#include "gpu/tensor.h"

namespace lattice {

class ParamReader;
namespace gpu {
class CommandStream;
}

/// The Philox block offset of the encoders' noise stream (far past any latent.noise a graph draws).
inline constexpr uint64_t kEncodeNoiseOffset = uint64_t{1} << 44;

/// DiagonalGaussianDistribution(moments): `moments` [B, C, ...] holds the mean in channels [0, L) (L =
/// latent_channels) and the log-variance after it, either per channel (C = 2L: AutoencoderKL, Wan) or one
/// channel shared by all (C = L + 1: LTX-Video's encoder, whose last channel diffusers repeats to L). Returns
/// {mean, log-variance clamped to [-30, 20]}, each a new contiguous [B, L, ...] tensor; other C throw
/// Error(Evaluation). Records up to three dispatches; nothing is submitted (no host round trip).
std::pair<gpu::Tensor, gpu::Tensor> split_moments(gpu::CommandStream& s, const gpu::Tensor& moments, int64_t latent_channels);

/// mean + exp(logvar / 2) · normal_noise(seed, kEncodeNoiseOffset): a new contiguous f32 tensor of mean's shape.
/// mean and logvar: f32, the same shape. Records four dispatches (five for a strided logvar); nothing is
/// submitted, nothing is uploaded.
gpu::Tensor sample_latent(gpu::CommandStream& s, const gpu::Tensor& mean, const gpu::Tensor& logvar, uint64_t seed);

/// The encode nodes' two parameters: "sample" (draw from the distribution; `by_default`, else the mean) and
/// "seed". `why` ends the sample parameter's description (which pipeline does what).
std::vector<ParamDesc> latent_sample_params(bool by_default, const std::string& why);

/// The seed to sample with when the node's "sample" parameter is on; nullopt for the mean.
std::optional<uint64_t> latent_sample_seed(const ParamReader& params);

}  // namespace lattice
