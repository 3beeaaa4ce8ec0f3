#pragma once
// The CPU reference of sample_latent (nodes/models/vae/latent_sample.h): mean + exp(logvar / 2) · n with n the
// seed's normal_noise_cpu stream at kEncodeNoiseOffset, computed in double and rounded once.
#include <cmath>
#include <cstdint>
#include <vector>

#include "gpu/ops/noise.h"
#include "nodes/models/vae/latent_sample.h"

namespace lattice::test {

inline std::vector<float> sample_latent_reference(const std::vector<float>& mean, const std::vector<float>& logvar, uint64_t seed) {
  std::vector<float> n(mean.size()), out(mean.size());
  gpu::normal_noise_cpu(seed, kEncodeNoiseOffset, n);
  for (size_t i = 0; i < mean.size(); ++i) out[i] = static_cast<float>(mean[i] + std::exp(0.5 * logvar[i]) * n[i]);
  return out;
}

}  // namespace lattice::test
