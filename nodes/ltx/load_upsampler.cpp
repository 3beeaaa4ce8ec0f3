// ltx.load_upsampler: an LTX-Video latent upsampler (ltxv-spatial-upscaler-0.9.7 or ltxv-temporal-upscaler-0.9.7,
// diffusers LTXLatentUpsamplerModel) from a folder or a .safetensors file, its configuration detected from the
// weights.
#include "core/eval_context.h"
#include "nodes/node_weights.h"
#include "nodes/types/ltx_handles.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "ltx.load_upsampler";
  d.category = "LTX-Video";
  d.description = "Load an LTX-Video latent upsampler (0.9.7 spatial or temporal) from a folder or a .safetensors file";
  d.outputs = {{"upsampler", PortType::Upsampler, "the latent upsampler"}};
  d.params = {{"path", ParamType::InPath, "", "checkpoint file, latent_upsampler folder, or pipeline folder"},
              {"component", ParamType::String, "latent_upsampler", "subfolder to use when 'path' is a pipeline folder"}};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    auto w = open_node_weights(ctx);
    const LtxUpsamplerConfig c = detect_ltx_upsampler_config(*w);
    ctx.set_output("upsampler", std::make_shared<LtxUpsamplerHandle>(w, c, ctx.in_path("path").string()));
  };
  d.plan = [](PlanContext& ctx) {
    LtxUpsamplerConfig c;
    PlanInfo p;
    try {
      auto w = open_node_weights(ctx);
      c = detect_ltx_upsampler_config(*w);
      p.weight_bytes = w->total_bytes();
    } catch (const Error&) {
      // No weights yet: plan from the folder's config.json if there is one (weight size unknown).
      auto cfg = component_config(ctx.in_path("path"), ctx.string("component"));
      if (!cfg) throw;
      c = ltx_upsampler_config_from_json(*cfg);
      p.shape = "(config only) ";
    }
    p.shape += std::string("LTX-Video latent upsampler (") + (c.spatial_upsample ? "2x space" : "") +
               (c.spatial_upsample && c.temporal_upsample ? ", " : "") + (c.temporal_upsample ? "2x time" : "") + "), width " +
               std::to_string(c.mid_channels);
    p.meta = {{"spatial", c.spatial_upsample}, {"temporal", c.temporal_upsample}};
    ctx.set_output("upsampler", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
