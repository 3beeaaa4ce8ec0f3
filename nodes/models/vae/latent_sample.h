#pragma once
/// Drawing a VAE latent from the encoder's diagonal Gaussian (diffusers' DiagonalGaussianDistribution.sample():
/// mean + exp(logvar / 2) · n) on the device, for the encode nodes' `sample` and `seed` parameters.
///
/// n is Lattice's seeded counter-based noise (gpu/ops/noise.h) for the seed at offset 2^44 (kEncodeNoiseOffset),
/// so a latent.noise of the same seed (offset 0) draws another stream, as one diffusers generator would; the
/// device draws exactly normal_noise_cpu's values, so a CPU reference of the same noise reproduces a sample.

#include <cstdint>
#include <optional>
#include <string>
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

/// mean + exp(logvar / 2) · normal_noise(seed, kEncodeNoiseOffset): a new contiguous f32 tensor of mean's shape.
/// mean and logvar: f32, the same shape, contiguous. Records four dispatches; nothing is submitted.
gpu::Tensor sample_latent(gpu::CommandStream& s, const gpu::Tensor& mean, const gpu::Tensor& logvar, uint64_t seed);

/// The encode nodes' two parameters: "sample" (draw from the distribution; `by_default`, else the mean) and
/// "seed". `why` ends the sample parameter's description (which pipeline does what).
std::vector<ParamDesc> latent_sample_params(bool by_default, const std::string& why);

/// The seed to sample with when the node's "sample" parameter is on; nullopt for the mean.
std::optional<uint64_t> latent_sample_seed(const ParamReader& params);

}  // namespace lattice
