// wan.image_condition: Wan 2.1 image-to-video's condition latent, as WanImageToVideoPipeline.prepare_latents
// builds it: the first frame followed by num_frames - 1 zero frames (mid-grey in [-1, 1]) through the VAE
// encoder (the distribution's mode, normalised), after a 4-channel mask that is 1 on the first latent frame
// and 0 elsewhere: [1, 4 + 16, T, H/8, W/8]. Feeds wan.sample's 'image_condition'. The image must already be
// the video's size (resize it with image.resize; the pipeline resizes to height x width).
#include <algorithm>

#include "core/eval_context.h"
#include "core/types/image.h"
#include "nodes/gpu_service.h"
#include "nodes/types/wan_vae_handle.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "wan.image_condition";
  d.category = "Wan";
  d.description = "Wan 2.1 image-to-video condition: first-frame mask + VAE latent of [image, zero frames]";
  d.inputs = {{"vae", PortType::VAE, "the Wan VAE (wan.load_vae)"},
              {"image", PortType::Image, "the first frame, at the video's size (multiples of 16)"}};
  d.outputs = {{"image_condition", PortType::Tensor, "mask + normalised latent [1, 20, (frames-1)/4+1, H/8, W/8]"}};
  d.params = {{"num_frames", ParamType::Int, 81, "frames of the video, 4k + 1 (as wan.sample)", 1, 1025}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& handle = ctx.input_as<WanVaeHandle>("vae");
    const auto& img = ctx.input_as<ImageData>("image");
    const int64_t n = ctx.integer("num_frames");
    if ((n - 1) % 4) throw_invalid(ctx.who() + ": num_frames " + std::to_string(n) + " is not 4k + 1", {ctx.node_id()});
    const int f = handle.config().spatial_compression();
    const int64_t w = img.width, h = img.height;
    if (w % f || h % f)
      throw_invalid(ctx.who() + ": the image is " + std::to_string(w) + "x" + std::to_string(h) + ", not a multiple of " +
                        std::to_string(f) + " on each side; resize it to the video's size first",
                    {ctx.node_id()});
    // [1, 3, n, h, w]: frame 0 the image in [-1, 1], the others zero.
    const std::vector<float> first = wan_encoder_input({std::shared_ptr<const ImageData>(ctx.input("image"), &img)});
    std::vector<float> video(static_cast<size_t>(3 * n * h * w), 0.0f);
    const size_t plane = static_cast<size_t>(h * w);
    for (size_t c = 0; c < 3; ++c)
      std::copy_n(first.begin() + static_cast<std::ptrdiff_t>(c * plane), plane,
                  video.begin() + static_cast<std::ptrdiff_t>(c * static_cast<size_t>(n) * plane));
    gpu::Context& gc = gpu_context(ctx);
    WanVae& vae = handle.model(gc);
    gpu::CommandStream s(gc);
    int64_t tile = 0;
    const gpu::Tensor z = wan_encode_normalized(s, vae, video, {1, 3, n, h, w}, tile);
    s.finish();
    if (tile) ctx.report("auto_tile", tile);
    // The mask: WanImageToVideoPipeline repeats frame 0's mask 4 times and folds frames into 4 channels,
    // so channel k of latent frame t is 1 exactly when t = 0.
    const int64_t T = z.dim(2), lh = z.dim(3), lw = z.dim(4), zc = z.dim(1);
    const std::vector<float> latent = z.to_floats();
    std::vector<float> out(static_cast<size_t>((4 + zc) * T * lh * lw), 0.0f);
    const size_t frame = static_cast<size_t>(lh * lw);
    for (size_t k = 0; k < 4; ++k) std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(k * static_cast<size_t>(T) * frame), frame, 1.0f);
    std::copy(latent.begin(), latent.end(), out.begin() + static_cast<std::ptrdiff_t>(4 * static_cast<size_t>(T) * frame));
    ctx.set_output("image_condition", std::make_shared<TensorData>(HostTensor::from_f32({1, 4 + zc, T, lh, lw}, out)));
  };
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* in = ctx.input("image");
    PlanInfo p;
    const int64_t t = 1 + (ctx.integer("num_frames") - 1) / 4;
    if (in && in->meta.contains("w")) {
      const int64_t W = in->meta["w"].get<int64_t>(), H = in->meta["h"].get<int64_t>();
      p.shape = "image condition [1, 20, " + std::to_string(t) + ", " + std::to_string(H / 8) + ", " + std::to_string(W / 8) + "]";
      // The encoder input on the host and device, plus the first encoder stage for one 4-frame chunk (as wan.vae_encode).
      p.activation_bytes = static_cast<uint64_t>(3 * ctx.integer("num_frames") * H * W) * 4 + static_cast<uint64_t>(4 * H * W) * 96 * 4 * 6;
    } else {
      p.shape = "image condition [1, 20, " + std::to_string(t) + ", H/8, W/8]";
    }
    ctx.set_output("image_condition", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
