// flux.load_transformer: a FLUX.1 transformer from a checkpoint (diffusers folder, sharded or not, or a
// single BFL/diffusers .safetensors file), its configuration detected from the weights.
#include "core/eval_context.h"
#include "nodes/models/flux/checkpoint.h"
#include "nodes/types/model_handles.h"

namespace lattice {
namespace {

std::shared_ptr<WeightSource> open_weights(const ParamReader& ctx) {
  const auto path = ctx.in_path("path");
  if (path.empty()) throw_invalid(ctx.who() + ": parameter 'path' is empty", {ctx.node_id()});
  auto w = std::make_shared<WeightSource>(WeightSource::open(path, ctx.string("component")));
  // Single-file community checkpoints wrap the keys; BFL originals do not.
  w->strip_prefix("model.diffusion_model.");
  return w;
}

bool has_weights(const ParamReader& ctx) {
  try {
    open_weights(ctx);
    return true;
  } catch (const Error&) {
    return false;
  }
}

NodeDesc make() {
  NodeDesc d;
  d.type = "flux.load_transformer";
  d.category = "FLUX";
  d.description = "Load a FLUX.1 transformer (dev or schnell) from a diffusers folder or a .safetensors file";
  d.outputs = {{"dit", PortType::DiT, "the transformer; weights reach the device on first use"}};
  d.params = {{"path", ParamType::InPath, "", "checkpoint file, transformer folder, or pipeline folder"},
              {"component", ParamType::String, "transformer", "subfolder to use when 'path' is a pipeline folder"}};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    auto w = open_weights(ctx);
    FluxLayout layout;
    FluxConfig config = detect_flux_config(*w, &layout);
    if (layout == FluxLayout::BFL) convert_bfl_flux(*w, config);
    ctx.set_output("dit", std::make_shared<FluxTransformerHandle>(w, config, ctx.in_path("path").string()));
  };
  d.plan = [](PlanContext& ctx) {
    // Plan from the weights when they are here, else from the folder's config.json (bf16 weights assumed),
    // so that a render can be planned before the checkpoint is downloaded.
    FluxConfig c;
    PlanInfo p;
    if (auto cfg = component_config(ctx.in_path("path"), ctx.string("component")); cfg && !has_weights(ctx)) {
      c = flux_config_from_json(*cfg);
      p.weight_bytes = c.parameter_count() * 2;
      p.shape = "(config only, bf16) ";
    } else {
      auto w = open_weights(ctx);
      c = detect_flux_config(*w);
      p.weight_bytes = w->total_bytes();
    }
    p.shape += "FLUX transformer " + std::to_string(c.num_layers) + "+" + std::to_string(c.num_single_layers) +
               " blocks, width " + std::to_string(c.inner_dim()) + (c.guidance_embeds ? ", guidance embedding" : "");
    p.meta = {{"params", c.parameter_count()}, {"inner", c.inner_dim()}, {"double", c.num_layers},
              {"single", c.num_single_layers}, {"mlp", c.mlp_hidden()}, {"in_channels", c.in_channels},
              {"joint", c.joint_attention_dim}};
    ctx.set_output("dit", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
