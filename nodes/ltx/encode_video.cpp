// ltx.encode_video: a video to the normalised LTX-Video latent of all its frames, for video-to-video (the
// `latent` input of ltx.sample with a strength below 1) and for conditioning on a clip: the VAE encodes the
// frames ([1, 3, T, H, W] in [-1, 1], T = 8k + 1, H and W multiples of the VAE's 32), and a draw from the
// distribution for the node's seed (as diffusers' retrieve_latents with its generator) or, with `sample`
// off, its mean is normalised with latents_mean/std. The encoder is causal in time: latent frame 0 depends on
// video frame 0 alone, so it is what ltx.encode_image gives for that frame.
#include "core/eval_context.h"
#include "core/types/video.h"
#include "nodes/ltx/encode_common.h"
#include "nodes/ltx/video_value.h"
#include "nodes/models/vae/latent_sample.h"
#include "nodes/types/ltx_handles.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "ltx.encode_video";
  d.category = "LTX-Video";
  d.description = "Encode a video (8k + 1 frames, sides multiples of 32) as an LTX-Video latent, for video-to-video";
  d.inputs = {{"vae", PortType::VAE, "the LTX-Video VAE (ltx.load_vae)"}, {"video", PortType::Video, "RGB frames in [0, 1]"}};
  d.outputs = {{"latent", PortType::Latent, "normalised latent [1, 128, 1 + (T - 1)/8, H/32, W/32]"}};
  d.params = latent_sample_params(true, "diffusers' LTX pipelines sample encoded videos with their generator");
  d.evaluate = [](EvalContext& ctx) {
    const auto& handle = ctx.input_as<LtxVaeHandle>("vae");
    const auto& video = ctx.input_as<VideoData>("video");
    const int f = handle.config().spatial_compression(), ft = handle.config().temporal_compression();
    const int64_t T = video.frame_count();
    ltx_check_encode_input(ctx, "video", T, video.width(), video.height(), f, ft);
    std::vector<const ImageData*> frames;
    frames.reserve(video.frames.size());
    for (const auto& frame : video.frames) frames.push_back(frame.get());
    const gpu::Tensor z = ltx_encode_normalised(ctx, handle, ltx_vae_pixels(frames), T, video.height(), video.width());
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, z));
  };
  d.plan = [](PlanContext& ctx) { ltx_encode_plan(ctx, true); };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
