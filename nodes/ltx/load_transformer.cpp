// ltx.load_transformer: an LTX-Video transformer from a diffusers folder (sharded or not) or a single
// .safetensors file (diffusers or Lightricks names), its configuration detected from the weights.
#include "core/eval_context.h"
#include "nodes/node_weights.h"
#include "nodes/types/ltx_handles.h"

namespace lattice {
namespace {

std::shared_ptr<WeightSource> open_weights(const ParamReader& ctx) {
  auto w = open_node_weights(ctx);
  normalise_ltx_checkpoint(*w);
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
  d.type = "ltx.load_transformer";
  d.category = "LTX-Video";
  d.description = "Load an LTX-Video transformer from a diffusers folder or a .safetensors file";
  d.outputs = {{"dit", PortType::DiT, "the transformer; weights reach the device on first use"}};
  d.params = {{"path", ParamType::InPath, "", "checkpoint file, transformer folder, or pipeline folder"},
              {"component", ParamType::String, "transformer", "subfolder to use when 'path' is a pipeline folder"},
              weight_dtype_param()};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    auto w = open_weights(ctx);
    const LtxTransformerConfig config = detect_ltx_transformer_config(*w);
    ctx.set_output("dit", std::make_shared<LtxTransformerHandle>(w, config, ctx.in_path("path").string(), nullptr,
                                                                 weight_dtype(ctx)));
  };
  d.plan = [](PlanContext& ctx) {
    // From the weights when they are here, else from the folder's config.json (bf16 weights assumed unless
    // weight_dtype says).
    const std::optional<gpu::DType> dtype = weight_dtype(ctx);
    LtxTransformerConfig c;
    PlanInfo p;
    uint64_t fp8_bytes = 0;  // the same weights with fp8 matrices: the --dry-run hint when the model streams
    // Each block's device bytes: the memory plan streams the blocks as the run would (core/block_stream_plan.h).
    std::vector<uint64_t> blocks;
    if (auto cfg = component_config(ctx.in_path("path"), ctx.string("component")); cfg && !has_weights(ctx)) {
      c = ltx_transformer_config_from_json(*cfg);
      const auto shapes = ltx_checkpoint_shapes(c);
      p.weight_bytes = weights_device_bytes(shapes, DType::BF16, dtype);
      fp8_bytes = weights_device_bytes(shapes, DType::BF16, gpu::DType::F8E4M3FN);
      p.shape = "(config only, " + weight_dtype_text(dtype, "bf16") + ") ";
      blocks = block_device_bytes(shapes, ltx_block_prefixes(c), DType::BF16, dtype);
    } else {
      auto w = open_weights(ctx);
      c = detect_ltx_transformer_config(*w);
      // As the run uploads them (vectors as f32), so that the memory plan counts what the run finds in use.
      p.weight_bytes = weights_device_bytes(*w, dtype);
      fp8_bytes = weights_device_bytes(*w, gpu::DType::F8E4M3FN);
      blocks = block_device_bytes(*w, ltx_block_prefixes(c), dtype);
      if (dtype) p.shape = "(" + weight_dtype_text(dtype, "") + " matrices) ";
    }
    p.shape += "LTX-Video transformer " + std::to_string(c.num_layers) + " blocks, width " + std::to_string(c.inner_dim());
    p.meta = {{"params", c.parameter_count()}, {"inner", c.inner_dim()}, {"head_dim", c.attention_head_dim},
              {"layers", c.num_layers}, {"in_channels", c.in_channels}, {"out_channels", c.out_channels}, {"caption", c.caption_channels},
              {"ff", c.ff_hidden()}, {"block_bytes", blocks}, {"fp8_weight_bytes", fp8_bytes}};
    ctx.set_output("dit", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
