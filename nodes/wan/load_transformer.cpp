// wan.load_transformer: a Wan 2.1 transformer (T2V or I2V, 1.3B or 14B) from a diffusers folder (sharded or
// not) or a .safetensors file, its configuration detected from the weights.
#include "core/eval_context.h"
#include "nodes/node_weights.h"
#include "nodes/models/wan/checkpoint.h"
#include "nodes/types/wan_handles.h"

namespace lattice {
namespace {

// ComfyUI-style single files wrap the keys.
constexpr const char* kWrapper = "model.diffusion_model.";

NodeDesc make() {
  NodeDesc d;
  d.type = "wan.load_transformer";
  d.category = "Wan";
  d.description = "Load a Wan 2.1 video transformer (T2V/I2V, 1.3B/14B) from a diffusers folder or a .safetensors file";
  d.outputs = {{"dit", PortType::DiT, "the transformer; weights reach the device on first use"}};
  d.params = {{"path", ParamType::InPath, "", "checkpoint file, transformer folder, or pipeline folder"},
              {"component", ParamType::String, "transformer", "subfolder to use when 'path' is a pipeline folder"},
              weight_dtype_param()};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    auto w = open_node_weights(ctx, kWrapper);
    convert_wan_original(*w);
    const WanConfig config = detect_wan_config(*w);
    ctx.set_output("dit", std::make_shared<WanTransformerHandle>(w, config, ctx.in_path("path").string(), nullptr,
                                                                 weight_dtype(ctx)));
  };
  d.plan = [](PlanContext& ctx) {
    // Plan from the weights when they are here, else from the folder's config.json (bf16 weights assumed
    // unless weight_dtype says), so that a render can be planned before the checkpoint is downloaded.
    const std::optional<gpu::DType> dtype = weight_dtype(ctx);
    WanConfig c;
    PlanInfo p;
    uint64_t fp8_bytes = 0;  // the same weights with fp8 matrices: the --dry-run hint when the model streams
    std::optional<nlohmann::json> config;
    // Each block's device bytes: the memory plan streams the blocks as the run would (core/block_stream_plan.h).
    std::vector<uint64_t> blocks;
    if (auto w = open_node_weights_or_config(ctx, kWrapper, config)) {
      convert_wan_original(*w);
      c = detect_wan_config(*w);
      p.weight_bytes = weights_device_bytes(*w, dtype);
      fp8_bytes = weights_device_bytes(*w, gpu::DType::F8E4M3FN);  // as uploaded (vectors, and fp8 matrices as stored, become f32)
      blocks = block_device_bytes(*w, wan_block_prefixes(c), dtype);
      if (dtype) p.shape = "(" + weight_dtype_text(dtype, "") + " matrices) ";
    } else {
      c = wan_config_from_json(*config);
      const auto shapes = wan_checkpoint_shapes(c);
      p.weight_bytes = weights_device_bytes(shapes, DType::BF16, dtype);
      fp8_bytes = weights_device_bytes(shapes, DType::BF16, gpu::DType::F8E4M3FN);
      p.shape = "(config only, " + weight_dtype_text(dtype, "bf16") + ") ";
      blocks = block_device_bytes(shapes, wan_block_prefixes(c), DType::BF16, dtype);
    }
    p.shape += c.describe() + " transformer, " + std::to_string(c.num_layers) + " blocks, width " + std::to_string(c.inner_dim());
    p.meta = {{"params", c.parameter_count()}, {"config", {{"heads", c.num_attention_heads}, {"head_dim", c.attention_head_dim},
              {"in", c.in_channels}, {"out", c.out_channels}, {"text", c.text_dim}, {"ffn", c.ffn_dim},
              {"layers", c.num_layers}, {"image", c.image_dim}}}, {"block_bytes", blocks}, {"fp8_weight_bytes", fp8_bytes}};
    ctx.set_output("dit", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
