// wan.vae_encode: a video (1 + 4k frames) or one image to Wan 2.1 latents, normalised as WanPipeline's
// sampler sees them ((mean - latents_mean) / latents_std; the distribution's mode, as WanImageToVideoPipeline
// takes it, or with `sample` on a seeded draw from it: nodes/models/vae/latent_sample.h), e.g. for image-to-video
// conditioning.
#include "core/eval_context.h"
#include "nodes/gpu_service.h"
#include "nodes/models/vae/latent_sample.h"
#include "nodes/types/tensor_value.h"
#include "nodes/types/wan_vae_handle.h"

namespace lattice {
namespace {

// Refuses frames the Wan VAE cannot encode (InvalidInput, naming the node): the run's, or the upstream plan's
// (`n` < 0: a count the plan does not know). `f`: the VAE's spatial compression.
void check_frames(const ParamReader& ctx, int64_t n, int64_t w, int64_t h, int64_t f) {
  if (n >= 0 && (n - 1) % 4)
    throw_invalid(ctx.who() + ": " + std::to_string(n) + " frames: the Wan VAE encodes 1 + 4k frames (1, 5, 9, ..., 81); trim the video",
                  {ctx.node_id()});
  if (w % f || h % f)
    throw_invalid(ctx.who() + ": frames " + std::to_string(w) + "x" + std::to_string(h) + " are not a multiple of " +
                      std::to_string(f) + " on each side; resize or crop them first",
                  {ctx.node_id()});
}

NodeDesc make() {
  NodeDesc d;
  d.type = "wan.vae_encode";
  d.category = "Wan";
  d.description = "Encode a video (1 + 4k frames) or an image to normalised Wan 2.1 latents";
  d.inputs = {{"vae", PortType::VAE, "the Wan VAE (wan.load_vae)"},
              {"video", PortType::Video, "frames to encode (1 + 4k of them); or connect an image", true},
              {"image", PortType::Image, "one frame to encode (image-to-video conditioning)", true}};
  d.outputs = {{"latent", PortType::Latent, "normalised latents [1, 16, 1 + k, H/8, W/8]"}};
  d.params = latent_sample_params(false, "WanImageToVideoPipeline takes the mean");
  d.evaluate = [](EvalContext& ctx) {
    const auto& handle = ctx.input_as<WanVaeHandle>("vae");
    const bool has_video = ctx.has_input("video"), has_image = ctx.has_input("image");
    if (has_video == has_image) throw_invalid(ctx.who() + ": connect exactly one of 'video' and 'image'", {ctx.node_id()});
    std::vector<ImagePtr> frames;
    if (has_video) {
      frames = ctx.input_as<VideoData>("video").frames;
    } else {
      auto& img = ctx.input_as<ImageData>("image");
      frames.push_back(std::shared_ptr<const ImageData>(ctx.input("image"), &img));
    }
    const int f = handle.config().spatial_compression();
    const int64_t n = static_cast<int64_t>(frames.size());
    const int w = frames.front()->width, h = frames.front()->height;
    check_frames(ctx, n, w, h, f);
    gpu::Context& gc = gpu_context(ctx);
    WanVae& vae = handle.model(gc);
    gpu::CommandStream s(gc);
    int64_t tile = 0;
    const gpu::Tensor z = wan_encode_normalized(s, vae, wan_encoder_input(frames), {1, 3, n, h, w}, tile, latent_sample_seed(ctx));
    s.finish();
    if (tile) ctx.report("auto_tile", tile);
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, z));
  };
  d.plan = [](PlanContext& ctx) {
    if (!ctx.input("video") == !ctx.input("image"))
      throw_invalid(ctx.who() + ": connect exactly one of 'video' and 'image'", {ctx.node_id()});
    const PlanInfo* in = ctx.input("video") ? ctx.input("video") : ctx.input("image");
    if (!in || !in->meta.contains("w")) return;
    // An image is one frame; a video's count may be unknown (-1).
    const int64_t frames = in->meta.value("frames", int64_t{1}), W = in->meta["w"].get<int64_t>(), H = in->meta["h"].get<int64_t>();
    // The loaded VAE's compression and channels (wan.load_vae's plan), else Wan 2.1's.
    const PlanInfo* vae = ctx.input("vae");
    const int64_t f = vae ? vae->meta.value("downscale", int64_t{8}) : 8, c = vae ? vae->meta.value("latent_channels", int64_t{16}) : 16;
    check_frames(ctx, frames, W, H, f);
    PlanInfo p;
    const int64_t t = frames < 0 ? -1 : 1 + (frames - 1) / 4;
    p.shape = "latent [1, " + std::to_string(c) + ", " + (t < 0 ? std::string("?") : std::to_string(t)) + ", " +
              std::to_string(H / f) + ", " + std::to_string(W / f) + "]";
    // The first encoder stage at full size for one 4-frame chunk (96 channels in Wan 2.1, about six tensors).
    p.activation_bytes = static_cast<uint64_t>(4 * H * W) * 96 * 4 * 6;
    p.meta = {{"c", c}, {"h", H / f}, {"w", W / f}};
    if (t >= 0) p.meta["t"] = t;
    ctx.set_output("latent", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
