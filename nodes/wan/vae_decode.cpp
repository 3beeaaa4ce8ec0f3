// wan.vae_decode: Wan 2.1 latents from the sampler (normalised, as WanPipeline's) to video frames:
// de-normalise with the VAE's latents_mean/std, decode causally (optionally in spatial tiles), map [-1, 1]
// to [0, 1]. Tiles are chosen automatically when the decoder's largest tensor would exceed one device buffer
// (at 480p the released VAE's needs 1.2 GB; lavapipe's buffers hold 128 MiB) or its working set half the
// device budget. Feeding video.save alone, the
// frames stream to it chunk by chunk (core/types/video_stream.h).
#include <algorithm>

#include "core/eval_context.h"
#include "core/types/video_stream.h"
#include "nodes/gpu_service.h"
#include "nodes/models/vae/tiling.h"
#include "nodes/types/tensor_value.h"
#include "nodes/types/wan_vae_handle.h"

namespace lattice {
namespace {

// A video latent of the VAE's `z_dim` channels (`c`: its channels; -1 where the plan does not know them, -2 for
// a tensor that is no [1, C, T, h, w]) and an overlap smaller than the tile, in the run and the plan (InvalidInput
// naming the node).
void check_decode(const ParamReader& ctx, int64_t c, int64_t z_dim, const std::string& latent) {
  if (c != -1 && c != z_dim)
    throw_invalid(ctx.who() + ": " + latent + " should be [1, " + std::to_string(z_dim) + ", T, h, w] (a Wan video latent)",
                  {ctx.node_id()});
  if (const int64_t tile = ctx.integer("tile"), overlap = ctx.integer("overlap"); tile > 0 && overlap >= tile)
    throw_invalid(ctx.who() + ": overlap " + std::to_string(overlap) + " must be smaller than tile " + std::to_string(tile),
                  {ctx.node_id()});
}

NodeDesc make() {
  NodeDesc d;
  d.type = "wan.vae_decode";
  d.category = "Wan";
  d.description = "Decode Wan 2.1 video latents to frames (causal, frame by frame; optional spatial tiling)";
  d.inputs = {{"vae", PortType::VAE, "the Wan VAE (wan.load_vae)"},
              {"latent", PortType::Latent, "normalised latents [1, 16, T, h, w] from wan.sample"}};
  d.outputs = {{"video", PortType::Video, "1 + 4(T - 1) RGB frames of 8h x 8w in [0, 1]"}};
  d.params = {{"fps", ParamType::Int, kWanFps, "frame rate of the video (Wan: 16)", 1, 240},
              {"tile", ParamType::Int, 0, "latent pixels per tile side (0 = auto: whole when it fits one device buffer and half the budget)", 0, 4096},
              {"overlap", ParamType::Int, 8, "latent pixels shared by neighbouring tiles, blended linearly", 0, 4096},
              {"chunk", ParamType::Int, 1, "latent frames per decoder pass after the first (more: faster, more memory; same video)", 1, 64}};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    const auto& handle = ctx.input_as<WanVaeHandle>("vae");
    gpu::Context& gc = gpu_context(ctx);
    const gpu::Tensor z = ctx.input_as<TensorValue>("latent").device(gc);
    const WanVaeConfig& c = handle.config();
    check_decode(ctx, z.rank() == 5 && z.dim(0) == 1 ? z.dim(1) : -2, c.z_dim, "latent " + z.describe());
    int64_t tile = ctx.integer("tile"), overlap = ctx.integer("overlap");
    const int fps = static_cast<int>(ctx.integer("fps")), chunk = static_cast<int>(ctx.integer("chunk"));
    if (tile == 0) {
      // Auto: whole when the decoder's largest tensor fits one device buffer and its working set half the
      // budget (auto_tile_tensor_limit), else the largest tile that does.
      const int64_t fit = c.largest_decode_tile(
          auto_tile_tensor_limit(gc.device().max_buffer_bytes(), gc.memory_budget(), WanVaeConfig::kWorkingSetFactor), chunk, z.dim(3), z.dim(4));
      if (fit < z.dim(3) || fit < z.dim(4)) {
        tile = fit;
        overlap = std::min(overlap, fit - 1);
        ctx.report("auto_tile", fit);
      }
    }
    const int64_t f = c.spatial_compression();
    VideoStream::Info info{static_cast<int>(z.dim(4) * f), static_cast<int>(z.dim(3) * f), 3, c.decoded_frames(z.dim(2)), fps, 1, nullptr};
    // Frames go out chunk by chunk (to video.save as they are decoded when the output streams).
    const Value vae_value = ctx.input("vae"), latent_value = ctx.input("latent");  // held until the frames are out
    set_video_output(ctx, "video", info, [vae_value, latent_value, z, &gc, tile, overlap, chunk, fps](const VideoStream::Sink& sink, const VideoStream::Progress& progress) {
      WanVae& vae = static_cast<const WanVaeHandle&>(*vae_value).model(gc);
      gpu::CommandStream s(gc);
      const gpu::Tensor raw = vae.denormalize(s, z);
      vae.decode_frames(s, raw, tile, overlap, chunk, [&](const HostTensor& frames, int64_t) { sink(wan_video_from_decoded(frames, fps)->frames); },
                        progress);
    });
  };
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* lat = ctx.input("latent");
    if (!lat || !lat->meta.contains("t")) return;
    const int64_t t = lat->meta["t"].get<int64_t>(), h = lat->meta["h"].get<int64_t>(), w = lat->meta["w"].get<int64_t>();
    // The loaded VAE's config (wan.load_vae's plan), else Wan 2.1's; the tiles as decode_frames makes them.
    const PlanInfo* vae = ctx.input("vae");
    const WanVaeConfig c = vae && vae->meta.contains("config") ? wan_vae_config_from_json(vae->meta["config"]) : WanVaeConfig{};
    const int64_t channels = lat->meta.value("c", int64_t{-1});
    check_decode(ctx, channels, c.z_dim,
                 "latent [1, " + std::to_string(channels) + ", " + std::to_string(t) + ", " + std::to_string(h) + ", " + std::to_string(w) + "]");
    const int64_t f = c.spatial_compression(), frames = c.decoded_frames(t), H = f * h, W = f * w, chunk = ctx.integer("chunk");
    const TileGrid grid(h, w, ctx.integer("tile"), ctx.integer("overlap"), f, ctx.who());
    PlanInfo p;
    p.shape = "video " + std::to_string(frames) + " frames " + std::to_string(W) + "x" + std::to_string(H) + " at " +
              std::to_string(ctx.integer("fps")) + " fps";
    // Device: the last decoder stage of one chunk (temporal_compression frames per latent frame, base_dim
    // channels: 96 in Wan 2.1; about six live f32 tensors per layer), at one tile's size when tiled, and every
    // tile's causal caches between chunks (decode_frames keeps them all on the device when the budget holds
    // them). The host holds the video.
    const uint64_t tiles = grid.count();
    const uint64_t caches = tiles * c.decode_kept_cache_bytes(t, static_cast<int>(chunk), grid.tile_h(), grid.tile_w());
    p.activation_bytes = static_cast<uint64_t>(c.temporal_compression() * chunk * grid.out_tile_h() * grid.out_tile_w() * c.base_dim) * 4 * 6 + caches;
    p.meta = {{"frames", frames}, {"w", W}, {"h", H}, {"c", 3}, {"tiles", tiles}, {"cache_bytes", caches}};
    ctx.set_output("video", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
