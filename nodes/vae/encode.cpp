// vae.encode: an image to latents as the DiT sees them, (z - shift) * scaling, where z is drawn from the
// encoder's distribution, mean + exp(logvar / 2) · n, as diffusers' FLUX img2img, inpaint and control pipelines
// do (retrieve_latents / latent_dist.sample with the pipeline's generator), or with `sample` off its mean.
// n is the node seed's counter-based noise at offset 2^44, drawn on the device (nodes/models/vae/latent_sample.h).
#include "core/eval_context.h"
#include "core/types/image.h"
#include "nodes/gpu_service.h"
#include "nodes/models/vae/latent_sample.h"
#include "nodes/models/vae/tiling.h"
#include "nodes/types/model_handles.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "vae.encode";
  d.category = "VAE";
  d.description = "Encode an image to latents (for image-to-image; tiled automatically when large); sides must be multiples of the VAE's downscale";
  d.inputs = {{"vae", PortType::VAE, "the autoencoder"}, {"image", PortType::Image, "RGB image in [0, 1]"}};
  d.outputs = {{"latent", PortType::Latent, "latents [1, C, H/f, W/f]"}};
  d.params = latent_sample_params(true, "diffusers' FLUX pipelines sample");
  d.version = 2;  // 2: samples by default
  d.evaluate = [](EvalContext& ctx) {
    const auto& handle = ctx.input_as<VaeHandle>("vae");
    const auto& img = ctx.input_as<ImageData>("image");
    const AutoencoderKLConfig& c = handle.config();
    const int f = c.downscale();
    if (img.width % f || img.height % f)
      ctx.fail("image " + std::to_string(img.width) + "x" + std::to_string(img.height) + " is not a multiple of " +
               std::to_string(f) + " on each side; resize or crop it first");
    std::vector<float> x(static_cast<size_t>(3) * img.width * img.height);
    for (int k = 0; k < 3; ++k)
      for (int y = 0; y < img.height; ++y)
        for (int xx = 0; xx < img.width; ++xx)
          x[(static_cast<size_t>(k) * img.height + y) * img.width + xx] = img.at(xx, y, std::min(k, img.channels - 1)) * 2.0f - 1.0f;
    gpu::Context& gc = gpu_context(ctx);
    gpu::CommandStream s(gc);
    AutoencoderKL& vae = handle.model(gc);
    // Whole when the encoder's largest tensor fits one device buffer and its working set half the budget,
    // else the largest tiles that do.
    const int64_t h = img.height / f, w = img.width / f, fit = c.largest_encode_tile(auto_tile_tensor_limit(gc.device().max_buffer_bytes(), gc.memory_budget(), AutoencoderKLConfig::kWorkingSetFactor), h, w);
    const int64_t tile = fit < h || fit < w ? fit : 0;
    if (tile) ctx.report("auto_tile", tile);
    auto [mean, logvar] = vae.encode_tiled(s, gpu::Tensor::from_floats(gc, x, {1, 3, img.height, img.width}), tile,
                                           std::min<int64_t>(8, std::max<int64_t>(fit - 1, 0)));
    if (const std::optional<uint64_t> seed = latent_sample_seed(ctx)) mean = sample_latent(s, mean, logvar, *seed);
    const gpu::Tensor z = vae.to_dit_latent(s, mean);
    s.finish();
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, z));
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
