#pragma once
/// What ltx.encode_image and ltx.encode_video share: pixels [1, 3, T, H, W] in [-1, 1] (ltx_vae_pixels) through
/// the LTX-Video VAE's encoder to a normalised latent [1, C, 1 + (T - 1) / 8, H / 32, W / 32]: a draw from the
/// encoder's distribution for the node's seed when its `sample` parameter is on (as diffusers'
/// retrieve_latents with a generator), else the mean. The pixels stay on the host; the encode runs in tiles
/// when the whole clip's activations would not fit (reported as auto_tile / auto_tile_frames). Fails naming
/// the node when the weights have no encoder. ltx_check_encode_input refuses what the VAE cannot encode, in the run
/// and in the plan; ltx_encode_plan is both nodes' plan.

#include <algorithm>
#include <string>
#include <vector>

#include "core/eval_context.h"
#include "gpu/command_stream.h"
#include "nodes/gpu_service.h"
#include "nodes/models/vae/latent_sample.h"
#include "nodes/models/vae/tiling.h"
#include "nodes/types/ltx_handles.h"

namespace lattice {

/// Refuses (InvalidInput, naming the node) `what` ("image" or "video") of w x h that the VAE's `spatial`
/// compression does not divide, and with `temporal` > 0 a count of `frames` that is not temporal·k + 1
/// (a negative count: unknown, not checked).
inline void ltx_check_encode_input(const ParamReader& ctx, const std::string& what, int64_t frames, int64_t w, int64_t h,
                                   int64_t spatial, int64_t temporal) {
  if (w % spatial || h % spatial)
    throw_invalid(ctx.who() + ": " + what + " " + std::to_string(w) + "x" + std::to_string(h) + " is not a multiple of " +
                      std::to_string(spatial) + " on each side; " +
                      (what == "image" ? "resize or crop it to the video's size first" : "resize or crop its frames first"),
                  {ctx.node_id()});
  if (temporal > 0 && frames >= 0 && (frames - 1) % temporal)
    throw_invalid(ctx.who() + ": the video has " + std::to_string(frames) + " frames; the LTX-Video VAE encodes " +
                      std::to_string(temporal) + "k + 1 (e.g. " + std::to_string((frames - 1) / temporal * temporal + 1) +
                      " or " + std::to_string(((frames - 1) / temporal + 1) * temporal + 1) + "): trim or pad the video",
                  {ctx.node_id()});
}

/// The plan of ltx.encode_image (`video` false: the image on input "image") or ltx.encode_video (its input
/// "video"): the latent [1, C, 1 + (T - 1) / 8, H / 32, W / 32] with meta {"c", "f", "h", "w"} as ltx.sample
/// reads it, the VAE's config from ltx.load_vae's plan (else the 0.9.5 layout's). Its activations: the encoder's
/// working set (LtxVaeConfig::kEncodeWorkingSetFactor tensors of its largest) whole, or, for a clip larger than
/// that, in the tiles of diffusers' tiled encode (kLtxAutoTileTarget latent pixels, two latent frames) that the
/// run's automatic tiling comes down to on a device too small for it whole.
inline void ltx_encode_plan(PlanContext& ctx, bool video) {
  const PlanInfo* in = ctx.input(video ? "video" : "image");
  if (!in || !in->meta.contains("w")) return;
  const PlanInfo* vae = ctx.input("vae");
  const LtxVaeConfig c = vae && vae->meta.contains("config") ? ltx_vae_config_from_json(vae->meta["config"]) : LtxVaeConfig{};
  const int64_t frames = video ? in->meta.value("frames", int64_t{-1}) : 1, W = in->meta["w"].get<int64_t>(),
                H = in->meta["h"].get<int64_t>(), sc = c.spatial_compression(), tc = c.temporal_compression();
  ltx_check_encode_input(ctx, video ? "video" : "image", frames, W, H, sc, video ? tc : 0);
  if (frames < 0) return;  // a video of unknown length: no shape to give
  const int64_t T = 1 + (frames - 1) / tc, h = H / sc, w = W / sc;
  PlanInfo p;
  p.shape = "latent [1, " + std::to_string(c.latent_channels) + ", " + std::to_string(T) + ", " + std::to_string(h) + ", " +
            std::to_string(w) + "]";
  const uint64_t whole = c.encode_peak_tensor_bytes(T, h, w);
  const uint64_t tiled = c.encode_peak_tensor_bytes(std::min<int64_t>(T, 2), std::min(h, kLtxAutoTileTarget), std::min(w, kLtxAutoTileTarget));
  p.activation_bytes = LtxVaeConfig::kEncodeWorkingSetFactor * std::min(whole, tiled);
  p.meta = {{"c", c.latent_channels}, {"f", T}, {"h", h}, {"w", w}};
  ctx.set_output("latent", p);
}

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
