// ltx.encode_image: an image to the first-frame latent LTXImageToVideoPipeline conditions on: the VAE
// encodes it as a one-frame video, and a draw from the distribution for the node's seed, as the pipeline's
// retrieve_latents does with its generator (nodes/models/vae/latent_sample.h), or with `sample` off its mean,
// is normalised with latents_mean/std.
#include "core/eval_context.h"
#include "core/types/image.h"
#include "nodes/ltx/encode_common.h"
#include "nodes/ltx/video_value.h"
#include "nodes/models/vae/latent_sample.h"
#include "nodes/types/ltx_handles.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "ltx.encode_image";
  d.category = "LTX-Video";
  d.description = "Encode an image as LTX-Video's first-frame latent (image-to-video); its size must be the video's";
  d.inputs = {{"vae", PortType::VAE, "the LTX-Video VAE (ltx.load_vae)"}, {"image", PortType::Image, "RGB image in [0, 1]"}};
  d.outputs = {{"latent", PortType::Latent, "normalised latent [1, 128, 1, H/32, W/32]"}};
  d.params = latent_sample_params(true, "LTXImageToVideoPipeline samples with its generator");
  // 2: samples by default. Version 1 took the mean; .lattice files of format 1 keep it (core/document.cpp).
  d.version = 2;
  d.evaluate = [](EvalContext& ctx) {
    const auto& handle = ctx.input_as<LtxVaeHandle>("vae");
    const auto& img = ctx.input_as<ImageData>("image");
    const int f = handle.config().spatial_compression();
    ltx_check_encode_input(ctx, "image", 1, img.width, img.height, f, 0);
    const gpu::Tensor z = ltx_encode_normalised(ctx, handle, ltx_vae_pixels({&img}), 1, img.height, img.width);
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, z));
  };
  d.plan = [](PlanContext& ctx) { ltx_encode_plan(ctx, false); };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
