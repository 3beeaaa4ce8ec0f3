// vae.decode: latents (as the DiT sees them) to an image: latent / scaling + shift, decode, [-1, 1] -> [0, 1].
#include <algorithm>

#include "core/eval_context.h"
#include "core/types/image.h"
#include "gpu/ops/binary.h"
#include "nodes/gpu_service.h"
#include "nodes/models/vae/tiling.h"
#include "nodes/types/model_handles.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "vae.decode";
  d.category = "VAE";
  d.description = "Decode latents to an image (the first image of the batch)";
  d.inputs = {{"vae", PortType::VAE, "the autoencoder"}, {"latent", PortType::Latent, "latents [B, C, h, w]"}};
  d.outputs = {{"image", PortType::Image, "RGB image in [0, 1]"}};
  d.params = {{"tile", ParamType::Int, 0,
               "latent pixels per tile side (0 = whole, unless the whole would not fit one device buffer: then the largest tile that does)",
               0, 4096},
              {"overlap", ParamType::Int, 8, "latent pixels shared by neighbouring tiles, blended linearly", 0, 4096}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& handle = ctx.input_as<VaeHandle>("vae");
    const auto& latent = ctx.input_as<TensorValue>("latent");
    gpu::Context& gc = gpu_context(ctx);
    const AutoencoderKLConfig& c = handle.config();
    gpu::CommandStream s(gc);
    const gpu::Tensor z = latent.device(gc);
    if (z.rank() != 4 || z.dim(1) != c.latent_channels)
      ctx.fail("latent " + z.describe() + " does not fit this VAE (" + std::to_string(c.latent_channels) + " channels)");
    AutoencoderKL& vae = handle.model(gc);
    int64_t tile = ctx.integer("tile"), overlap = ctx.integer("overlap");
    if (tile == 0) {
      // Decoding whole needs the widest activation at full size in one buffer, and every layer's tensors at
      // once within the budget; where they would not fit (large images on lavapipe's 128 MiB, 1024x1024 on a
      // 24 GB card), tile automatically and say so in the report.
      const int64_t fit = c.largest_decode_tile(auto_tile_tensor_limit(gc.device().max_buffer_bytes(), gc.memory_budget(), AutoencoderKLConfig::kWorkingSetFactor));
      if (fit < std::max(z.dim(2), z.dim(3))) {
        tile = fit;
        overlap = std::min(overlap, tile / 4);
        ctx.report("auto_tile", tile);
      }
    }
    const gpu::Tensor x = vae.decode_tiled(s, vae.to_decoder_input(s, z), tile, overlap);
    s.finish();
    ctx.check_cancel();
    const std::vector<float> v = x.to_floats();
    const int C = static_cast<int>(x.dim(1)), H = static_cast<int>(x.dim(2)), W = static_cast<int>(x.dim(3));
    auto img = std::make_shared<ImageData>(W, H, std::min(C, 4));
    for (int y = 0; y < H; ++y)
      for (int xx = 0; xx < W; ++xx)
        for (int k = 0; k < img->channels; ++k)
          img->at(xx, y, k) = std::clamp(v[(static_cast<size_t>(k) * H + y) * W + xx] / 2.0f + 0.5f, 0.0f, 1.0f);
    ctx.set_output("image", img);
  };
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* vae = ctx.input("vae");
    const PlanInfo* lat = ctx.input("latent");
    if (!vae || !lat || !lat->meta.contains("h")) return;
    const int64_t f = vae->meta["downscale"].get<int64_t>();
    const int64_t h = lat->meta["h"].get<int64_t>() * f, w = lat->meta["w"].get<int64_t>() * f;
    PlanInfo p;
    p.shape = "image " + std::to_string(w) + "x" + std::to_string(h) + "x3";
    // The widest decoder stage at full size, or at one tile's size when tiled.
    const int64_t tile = ctx.integer("tile") * f, th = tile > 0 ? std::min(h, tile) : h, tw = tile > 0 ? std::min(w, tile) : w;
    p.activation_bytes = static_cast<uint64_t>(th * tw) * 128 * 4 * 3;
    p.meta = {{"w", w}, {"h", h}, {"c", 3}};
    ctx.set_output("image", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
