// ltx.load_vae: the LTX-Video causal video VAE (0.9.0, 0.9.1 and 0.9.5+ layouts) from a diffusers folder or a .safetensors
// file (a `vae.` prefix is stripped), its configuration detected from the weights.
#include "core/eval_context.h"
#include "nodes/node_weights.h"
#include "nodes/types/ltx_handles.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "ltx.load_vae";
  d.category = "LTX-Video";
  d.description = "Load the LTX-Video video autoencoder (0.9.0, 0.9.1, 0.9.5 and later) from a diffusers folder or a .safetensors file";
  d.outputs = {{"vae", PortType::VAE, "the video autoencoder"}};
  d.params = {{"path", ParamType::InPath, "", "checkpoint file, vae folder, or pipeline folder"},
              {"component", ParamType::String, "vae", "subfolder to use when 'path' is a pipeline folder"}};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    auto w = open_node_weights(ctx);
    const LtxVaeConfig c = detect_ltx_vae_config(*w);
    ctx.set_output("vae", std::make_shared<LtxVaeHandle>(w, c, ctx.in_path("path").string()));
  };
  d.plan = [](PlanContext& ctx) {
    LtxVaeConfig c;
    PlanInfo p;
    try {
      auto w = open_node_weights(ctx);
      c = detect_ltx_vae_config(*w);
      p.weight_bytes = w->total_bytes();
    } catch (const Error&) {
      // No weights yet: plan from the folder's config.json if there is one (weight size unknown).
      auto cfg = component_config(ctx.in_path("path"), ctx.string("component"));
      if (!cfg) throw;
      c = ltx_vae_config_from_json(*cfg);
      p.shape = "(config only) ";
    }
    p.shape += "LTX-Video VAE " + std::to_string(c.latent_channels) + " latent channels, /" +
               std::to_string(c.spatial_compression()) + " space, /" + std::to_string(c.temporal_compression()) + " time";
    p.meta = {{"latent_channels", c.latent_channels},
              {"spatial", c.spatial_compression()},
              {"temporal", c.temporal_compression()},
              {"config", ltx_vae_config_to_json(c)}};
    ctx.set_output("vae", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
