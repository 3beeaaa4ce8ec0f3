// ltx.vae_decode: LTX-Video latents to video frames, as LTXPipeline decodes: de-normalise with the VAE's
// latents_mean/std, blend in seeded noise (decode_noise_scale), decode at decode_timestep, map [-1, 1] to
// [0, 1]. The seed drives both that noise and the noise a 0.9.1 decoder injects into its resnets (different
// offsets of the same counter-based stream, gpu/ops/noise.h). Spatial tiles (chosen automatically when the decoder would exceed a device buffer) and temporal
// tiles; feeding video.save alone, each temporal tile's frames stream to it as they finish.
#include "core/eval_context.h"
#include "core/types/video_stream.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/noise.h"
#include "nodes/gpu_service.h"
#include "nodes/models/vae/tiling.h"
#include "nodes/ltx/video_value.h"
#include "nodes/types/ltx_handles.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

// A video latent of the VAE's `channels` (`c`: its channels; -1 where the plan does not know them or, for
// `channels`, the VAE's; -2 for a tensor that is no [1, C, F, h, w]) and tiles that overlap as the decode needs,
// for a latent of `frames` latent frames, in the run and the plan (InvalidInput naming the node).
void check_decode(const ParamReader& ctx, int64_t c, int64_t channels, int64_t frames, const std::string& latent) {
  const auto refuse = [&](const std::string& why) { throw_invalid(ctx.who() + ": " + why, {ctx.node_id()}); };
  if (c != -1 && channels != -1 && c != channels) refuse(latent + " should be [1, " + std::to_string(channels) + ", F, h, w]");
  if (const int64_t tile = ctx.integer("tile"), overlap = ctx.integer("overlap"); tile > 0 && overlap >= tile)
    refuse("overlap " + std::to_string(overlap) + " must be smaller than tile " + std::to_string(tile));
  const int64_t tile_frames = ctx.integer("tile_frames"), overlap_frames = ctx.integer("overlap_frames");
  if (tile_frames > 0 && tile_frames < frames && (overlap_frames < 1 || overlap_frames >= tile_frames))
    refuse("overlap_frames " + std::to_string(overlap_frames) + " must be at least 1 and smaller than tile_frames " +
           std::to_string(tile_frames));
}

NodeDesc make() {
  NodeDesc d;
  d.type = "ltx.vae_decode";
  d.category = "LTX-Video";
  d.description = "Decode LTX-Video latents to video frames (0.9.0, 0.9.1 and 0.9.5+ VAEs; timestep-conditioned where the VAE is)";
  d.inputs = {{"vae", PortType::VAE, "the LTX-Video VAE (ltx.load_vae)"},
              {"latent", PortType::Latent, "latents [1, 128, F, h, w] from ltx.sample"}};
  d.outputs = {{"video", PortType::Video, "1 + 8(F-1) RGB frames of 32h x 32w in [0, 1]"}};
  d.params = {{"decode_timestep", ParamType::Float, 0.05, "the decoder's timestep (Lightricks' 0.9.1 and 0.9.5+ configs: 0.05; 0.9.0 ignores it)", 0.0, 1.0},
              {"decode_noise_scale", ParamType::Float, 0.025, "noise blended into the latents before a timestep-conditioned decoder (0.9.1, 0.9.5+: 0.025)", 0.0, 1.0},
              {"frame_rate", ParamType::Float, 25.0, "frames per second of the video", 1.0, 240.0},
              {"seed", ParamType::Seed, 0, "seed of the decode noise (and of the noise a 0.9.1 decoder injects)"},
              {"tile", ParamType::Int, 0, "latent pixels per spatial tile side (0 = auto: whole when it fits one device buffer)", 0, 4096},
              {"overlap", ParamType::Int, 2, "latent pixels shared by neighbouring spatial tiles, blended linearly", 0, 4096},
              {"tile_frames", ParamType::Int, 0, "latent frames per temporal tile, at least 2 (0 = all, or automatic with tile 0 when a long clip needs it; tiles stream to video.save)", 0, 4096},
              {"overlap_frames", ParamType::Int, 1, "latent frames shared by neighbouring temporal tiles (at least 1), blended linearly", 1, 4096}};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    const auto& handle = ctx.input_as<LtxVaeHandle>("vae");
    gpu::Context& gc = gpu_context(ctx);
    const gpu::Tensor z = ctx.input_as<TensorValue>("latent").device(gc);
    const LtxVaeConfig& c = handle.config();
    const bool video_latent = z.rank() == 5 && z.dim(0) == 1;
    check_decode(ctx, video_latent ? z.dim(1) : -2, c.latent_channels, video_latent ? z.dim(2) : 0, "latent " + z.describe());
    LtxDecodeTiling tiling{ctx.integer("tile"), ctx.integer("overlap"), ctx.integer("tile_frames"), ctx.integer("overlap_frames")};
    {
      // Auto: whole when the decoder's largest tensor fits one device buffer (and its working set half the
      // budget), else temporal tiles (when
      // tile_frames is 0 and the whole clip would force tiny spatial tiles) and the largest spatial tile.
      const LtxDecodeTiling asked = tiling;
      tiling = ltx_auto_decode_tiling(c, tiling, auto_tile_tensor_limit(gc.device().max_buffer_bytes(), gc.memory_budget(), LtxVaeConfig::kWorkingSetFactor),
                                      z.dim(2), z.dim(3), z.dim(4));
      if (tiling.tile != asked.tile) ctx.report("auto_tile", tiling.tile);
      if (tiling.tile_frames != asked.tile_frames) ctx.report("auto_tile_frames", tiling.tile_frames);
    }
    const float t = static_cast<float>(ctx.number("decode_timestep"));
    const float k = static_cast<float>(ctx.number("decode_noise_scale"));
    const uint64_t seed = ctx.seed("seed");
    const double rate = ctx.number("frame_rate");
    const auto [num, den] = ltx_frame_rate(rate);
    const int64_t sc = c.spatial_compression();
    VideoStream::Info info{static_cast<int>(z.dim(4) * sc), static_cast<int>(z.dim(3) * sc), 3,
                           1 + c.temporal_compression() * (z.dim(2) - 1), num, den, nullptr};
    // Frames go out per temporal tile (to video.save as they are decoded when the output streams).
    const Value vae_value = ctx.input("vae"), latent_value = ctx.input("latent");  // held until the frames are out
    set_video_output(ctx, "video", info, [vae_value, latent_value, z, &gc, t, k, seed, rate, tiling](const VideoStream::Sink& sink,
                                                                                                       const VideoStream::Progress& progress) {
      const auto& h = static_cast<const LtxVaeHandle&>(*vae_value);
      LtxVae& vae = h.model(gc);
      gpu::CommandStream s(gc);
      gpu::Tensor x = vae.denormalize(s, z);
      if (k > 0 && h.config().timestep_conditioning) {
        // LTXPipeline: (1 - scale)·latents + scale·noise, only for timestep-conditioned VAEs.
        const gpu::Tensor noise = gpu::normal_noise(s, z.shape(), seed);
        x = gpu::axpby(s, 1.0f - k, x, k, noise);
      }
      LtxDecodeNoise injected;
      injected.seed = seed;
      vae.decode_frames(s, x, {t}, tiling, [&](const HostTensor& frames, int64_t) {
        sink(ltx_video_value(frames.shape, frames.to_f32(), rate)->frames);
      }, progress, injected);
    });
  };
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* latent = ctx.input("latent");
    // Latent frames as the LTX nodes' plans say ("f") or latent.from_tensor's ("t").
    if (!latent || !(latent->meta.contains("f") || latent->meta.contains("t"))) return;
    const int64_t f = latent->meta.value("f", latent->meta.value("t", int64_t{1})), h = latent->meta["h"].get<int64_t>(),
                  w = latent->meta["w"].get<int64_t>();
    const PlanInfo* vae = ctx.input("vae");
    const int64_t c = latent->meta.value("c", int64_t{-1});
    check_decode(ctx, c, vae ? vae->meta.value("latent_channels", int64_t{-1}) : -1, f,
                 "latent [1, " + std::to_string(c) + ", " + std::to_string(f) + ", " + std::to_string(h) + ", " + std::to_string(w) + "]");
    PlanInfo p;
    p.shape = "video " + std::to_string(1 + 8 * (f - 1)) + " frames " + std::to_string(32 * w) + "x" + std::to_string(32 * h);
    // The last up block dominates: about six live [1, 128, T, H/4, W/4] f32 tensors (released VAEs).
    p.activation_bytes = static_cast<uint64_t>((1 + 8 * (f - 1)) * 8 * h * 8 * w * 128 * 4 * 6);
    p.meta = {{"frames", 1 + 8 * (f - 1)}, {"w", 32 * w}, {"h", 32 * h}, {"c", 3}};
    ctx.set_output("video", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
