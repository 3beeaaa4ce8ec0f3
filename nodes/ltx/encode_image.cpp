// ltx.encode_image: an image to the first-frame latent LTXImageToVideoPipeline conditions on: the VAE
// encodes it as a one-frame video, and a draw from the distribution for the node's seed, as the pipeline's
// retrieve_latents does with its generator (nodes/models/vae/latent_sample.h), or with `sample` off its mean,
// is normalised with latents_mean/std.
#include "core/eval_context.h"
#include "core/types/image.h"
#include "nodes/gpu_service.h"
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
    if (img.width % f || img.height % f)
      ctx.fail("image " + std::to_string(img.width) + "x" + std::to_string(img.height) + " is not a multiple of " +
               std::to_string(f) + " on each side; resize or crop it to the video's size first");
    const size_t plane = static_cast<size_t>(img.width) * static_cast<size_t>(img.height);
    std::vector<float> video(3 * plane);
    for (int k = 0; k < 3; ++k)  // [1, 3, 1, H, W] in [-1, 1]
      for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x)
          video[static_cast<size_t>(k) * plane + static_cast<size_t>(y) * static_cast<size_t>(img.width) + static_cast<size_t>(x)] =
              img.at(x, y, std::min(k, img.channels - 1)) * 2.0f - 1.0f;
    if (!ltx_vae_has_encoder(handle.weights())) ctx.fail("the VAE weights have no encoder");
    gpu::Context& gc = gpu_context(ctx);
    LtxVae& vae = handle.model(gc);
    gpu::CommandStream s(gc);
    const auto [mean, logvar] = vae.encode(s, gpu::Tensor::from_floats(gc, video, {1, 3, 1, img.height, img.width}));
    gpu::CommandStream s2(gc);
    const std::optional<uint64_t> seed = latent_sample_seed(ctx);
    const gpu::Tensor z = vae.normalize(s2, seed ? sample_latent(s2, mean, logvar, *seed) : mean);
    s2.finish();
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, z));
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
