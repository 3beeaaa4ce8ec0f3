#include "nodes/models/vae/latent_sample.h"

#include "core/eval_context.h"
#include "gpu/command_stream.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/noise.h"
#include "gpu/ops/unary.h"

namespace lattice {

std::pair<gpu::Tensor, gpu::Tensor> split_moments(gpu::CommandStream& s, const gpu::Tensor& moments, int64_t latent_channels) {
  const int64_t L = latent_channels;
  if (moments.rank() < 2 || L < 1 || (moments.dim(1) != 2 * L && moments.dim(1) != L + 1))
    throw_eval("VAE encoder moments " + moments.describe() + " should have " + std::to_string(2 * L) + " or " +
               std::to_string(L + 1) + " channels (" + std::to_string(L) + " latent channels)");
  const gpu::Tensor mean = gpu::contiguous(s, gpu::narrow(moments, 1, 0, L));
  gpu::Tensor logvar = gpu::narrow(moments, 1, L, moments.dim(1) - L);
  if (logvar.dim(1) != L) {  // the one shared channel, repeated
    gpu::Shape shape = logvar.shape();
    shape[1] = L;
    logvar = gpu::expand(logvar, shape);
  }
  return {mean, gpu::clamp(s, gpu::contiguous(s, logvar), -30.0f, 20.0f)};
}

gpu::Tensor sample_latent(gpu::CommandStream& s, const gpu::Tensor& mean, const gpu::Tensor& logvar, uint64_t seed) {
  if (mean.shape() != logvar.shape())
    throw_eval("sample_latent: mean " + mean.describe() + " and logvar " + logvar.describe() + " differ in shape");
  // exp(0.5 · logvar) in one dispatch: the scale is a push constant (the same f32 multiply as a mul by 0.5).
  const gpu::Tensor std_dev = gpu::unary(s, gpu::UnaryOp::Exp, gpu::contiguous(s, logvar), {.scale = 0.5f});
  return gpu::add(s, mean, gpu::mul(s, std_dev, gpu::normal_noise(s, mean.shape(), seed, kEncodeNoiseOffset)));
}

std::vector<ParamDesc> latent_sample_params(bool by_default, const std::string& why) {
  return {{"sample", ParamType::Bool, by_default, "draw the latent from the encoder's distribution, mean + std·noise (off: its mean); " + why},
          {"seed", ParamType::Seed, 0, "noise seed when sampling"}};
}

std::optional<uint64_t> latent_sample_seed(const ParamReader& params) {
  if (!params.flag("sample")) return std::nullopt;
  return params.seed("seed");
}

}  // namespace lattice
