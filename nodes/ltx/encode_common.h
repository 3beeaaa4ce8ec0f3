#pragma once
/// What ltx.encode_image and ltx.encode_video share: pixels [1, 3, T, H, W] in [-1, 1] (ltx_vae_pixels) through
/// the LTX-Video VAE's encoder to a normalised latent [1, C, 1 + (T - 1) / 8, H / 32, W / 32]: a draw from the
/// encoder's distribution for the node's seed when its `sample` parameter is on (as diffusers'
/// retrieve_latents with a generator), else the mean. Fails naming the node when the weights have no encoder.

#include <vector>

#include "core/eval_context.h"
#include "gpu/command_stream.h"
#include "nodes/gpu_service.h"
#include "nodes/models/vae/latent_sample.h"
#include "nodes/types/ltx_handles.h"

namespace lattice {

inline gpu::Tensor ltx_encode_normalised(EvalContext& ctx, const LtxVaeHandle& handle, const std::vector<float>& pixels,
                                         int64_t frames, int height, int width) {
  if (!ltx_vae_has_encoder(handle.weights())) ctx.fail("the VAE weights have no encoder");
  gpu::Context& gc = gpu_context(ctx);
  LtxVae& vae = handle.model(gc);
  gpu::CommandStream s(gc);
  const auto [mean, logvar] = vae.encode(s, gpu::Tensor::from_floats(gc, pixels, {1, 3, frames, height, width}));
  gpu::CommandStream s2(gc);
  const std::optional<uint64_t> seed = latent_sample_seed(ctx);
  const gpu::Tensor z = vae.normalize(s2, seed ? sample_latent(s2, mean, logvar, *seed) : mean);
  s2.finish();
  return z;
}

}  // namespace lattice
