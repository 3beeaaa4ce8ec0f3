#pragma once
/// What ltx.encode_image and ltx.encode_video share: pixels [1, 3, T, H, W] in [-1, 1] (ltx_vae_pixels) through
/// the LTX-Video VAE's encoder to a normalised latent [1, C, 1 + (T - 1) / 8, H / 32, W / 32]: a draw from the
/// encoder's distribution for the node's seed when its `sample` parameter is on (as diffusers'
/// retrieve_latents with a generator), else the mean. The pixels stay on the host; the encode runs in tiles
/// when the whole clip's activations would not fit (reported as auto_tile / auto_tile_frames). Fails naming
/// the node when the weights have no encoder.

#include <vector>

#include "core/eval_context.h"
#include "gpu/command_stream.h"
#include "nodes/gpu_service.h"
#include "nodes/models/vae/latent_sample.h"
#include "nodes/models/vae/tiling.h"
#include "nodes/types/ltx_handles.h"

namespace lattice {

inline gpu::Tensor ltx_encode_normalised(EvalContext& ctx, const LtxVaeHandle& handle, const std::vector<float>& pixels,
                                         int64_t frames, int height, int width) {
  if (!ltx_vae_has_encoder(handle.weights())) ctx.fail("the VAE weights have no encoder");
  gpu::Context& gc = gpu_context(ctx);
  LtxVae& vae = handle.model(gc);
  const LtxVaeConfig& c = vae.config();
  const int64_t sc = c.spatial_compression(), T = 1 + (frames - 1) / c.temporal_compression();
  // Whole when the encoder's largest tensor fits one device buffer (and its working set half the budget),
  // else temporal and spatial tiles sharing a frame and two latent pixels (diffusers' 448-pixel stride on
  // 512-pixel tiles) as ltx_auto_encode_tiling picks them.
  const LtxEncodeTiling tiling = ltx_auto_encode_tiling(
      c, {0, 2, 0, 1}, auto_tile_tensor_limit(gc.device().max_buffer_bytes(), gc.memory_budget(), LtxVaeConfig::kEncodeWorkingSetFactor),
      T, height / sc, width / sc);
  if (tiling.tile) ctx.report("auto_tile", tiling.tile);
  if (tiling.tile_frames) ctx.report("auto_tile_frames", tiling.tile_frames);
  gpu::CommandStream s(gc);
  const auto [mean, logvar] = vae.encode_tiled(s, pixels, {1, 3, frames, height, width}, tiling, [&](int done, int total) {
    ctx.progress(static_cast<double>(done) / total, "encoded tile " + std::to_string(done) + " of " + std::to_string(total));
  });
  gpu::CommandStream s2(gc);
  const std::optional<uint64_t> seed = latent_sample_seed(ctx);
  const gpu::Tensor z = vae.normalize(s2, seed ? sample_latent(s2, mean, logvar, *seed) : mean);
  s2.finish();
  return z;
}

}  // namespace lattice
