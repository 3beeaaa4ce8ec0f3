// vae.decode: latents (as the DiT sees them) to an image: latent / scaling + shift, decode, [-1, 1] -> [0, 1].
#include <algorithm>
#include <cstdio>

#include "core/eval_context.h"
#include "core/types/image.h"
#include "gpu/ops/binary.h"
#include "nodes/gpu_service.h"
#include "nodes/models/vae/tiling.h"
#include "nodes/types/model_handles.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

// The device buffer limit the plan assumes (discrete GPUs' usual maxStorageBufferRange, 4 GiB): below 256 GiB
// budgets the budget's share (auto_tile_tensor_limit) is the tighter limit, so the plan's tiles are the run's.
constexpr uint64_t kPlanMaxBufferBytes = uint64_t{4} << 30;

std::string human_gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g GiB", static_cast<double>(bytes) / 1073741824.0);
  return buf;
}

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
    // Where the whole decode would not fit a buffer or half the budget, tile automatically and say so in the
    // report.
    const KlDecodeTiling t = kl_decode_tiling(c, z.dim(2), z.dim(3), ctx.integer("tile"), ctx.integer("overlap"),
                                              gc.device().max_buffer_bytes(), gc.memory_budget());
    if (t.automatic) ctx.report("auto_tile", t.tile);
    const gpu::Tensor x = vae.decode_tiled(s, vae.to_decoder_input(s, z), t.tile, t.overlap);
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
    AutoencoderKLConfig c;  // the loaded VAE's widths (vae.load's plan), else FLUX's
    if (vae->meta.contains("channels")) c.block_out_channels = vae->meta["channels"].get<std::vector<int>>();
    const int64_t f = c.downscale(), lh = lat->meta["h"].get<int64_t>(), lw = lat->meta["w"].get<int64_t>();
    const int64_t h = lh * f, w = lw * f;
    // The tiles the run takes (kl_decode_tiling) at each budget planned for, on a device whose buffers hold
    // kPlanMaxBufferBytes; the activations are the working set the tiles were chosen under.
    struct AtBudget {
      uint64_t budget;
      KlDecodeTiling tiling;  // as the run reports it (auto_tile: the tile asked of the grid)
      TileGrid grid;
      uint64_t bytes;
    };
    std::vector<AtBudget> at;
    const std::vector<uint64_t> budgets = ctx.budgets().empty() ? std::vector<uint64_t>{0} : ctx.budgets();
    for (uint64_t budget : budgets) {
      const KlDecodeTiling t = kl_decode_tiling(c, lh, lw, ctx.integer("tile"), ctx.integer("overlap"), kPlanMaxBufferBytes,
                                                budget > 0 ? budget : UINT64_MAX);
      TileGrid grid(lh, lw, t.tile, t.overlap, f, ctx.who());
      const uint64_t bytes = c.decode_working_set_bytes(grid.tile_h(), grid.tile_w());
      at.push_back({budget, t, std::move(grid), bytes});
    }
    PlanInfo p;
    p.shape = "image " + std::to_string(w) + "x" + std::to_string(h) + "x3";
    Json by_budget = Json::array();
    for (const AtBudget& a : at) {
      std::string how = a.grid.tiled() ? std::to_string(a.grid.rows()) + "x" + std::to_string(a.grid.cols()) + " tiles of " +
                                             std::to_string(a.grid.tile_h()) + "x" + std::to_string(a.grid.tile_w()) + " latent px"
                                       : "whole";
      if (a.budget > 0) how += " at " + human_gib(a.budget);
      p.shape += ", " + how;
      p.activation_bytes = std::max(p.activation_bytes, a.bytes);
      by_budget.push_back({{"budget_bytes", a.budget}, {"tile", a.grid.tiled() ? a.tiling.tile : 0}, {"tiles", a.grid.count()},
                           {"activation_bytes", a.bytes}});
    }
    p.meta = {{"w", w}, {"h", h}, {"c", 3}};
    if (!ctx.budgets().empty()) p.meta["by_budget"] = by_budget;
    ctx.set_output("image", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
