// flux.load_transformer: a FLUX.1 transformer from a checkpoint (diffusers folder, sharded or not, or a
// single BFL/diffusers .safetensors file), its configuration detected from the weights, with the scheduler
// of the diffusers pipeline folder it comes from (flux_pipeline_scheduler) for flux.sample's 'auto' schedule.
#include "core/eval_context.h"
#include "nodes/models/flux/checkpoint.h"
#include "nodes/node_weights.h"
#include "nodes/types/model_handles.h"

namespace lattice {
namespace {

// Single-file community checkpoints wrap the keys; BFL originals do not.
constexpr const char* kWrapper = "model.diffusion_model.";

NodeDesc make() {
  NodeDesc d;
  d.type = "flux.load_transformer";
  d.category = "FLUX";
  d.description = "Load a FLUX.1 transformer (dev or schnell) from a diffusers folder or a .safetensors file";
  d.outputs = {{"dit", PortType::DiT, "the transformer; weights reach the device on first use"}};
  ParamDesc path{"path", ParamType::InPath, "", "checkpoint file, transformer folder, or pipeline folder"};
  // The pipeline's scheduler config beside a transformer folder is read too (flux_pipeline_scheduler).
  path.also_reads = [](const std::filesystem::path& p) {
    std::vector<std::filesystem::path> files;
    if (auto f = flux_pipeline_scheduler_file(p)) files.push_back(*f);
    return files;
  };
  d.params = {path,
              {"component", ParamType::String, "transformer", "subfolder to use when 'path' is a pipeline folder"},
              weight_dtype_param()};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    auto w = open_node_weights(ctx, kWrapper);
    FluxLayout layout;
    FluxConfig config = detect_flux_config(*w, &layout);
    if (layout == FluxLayout::BFL) convert_bfl_flux(*w, config);
    config.scheduler = flux_pipeline_scheduler(ctx.in_path("path"));
    ctx.set_output("dit", std::make_shared<FluxTransformerHandle>(w, config, ctx.in_path("path").string(), nullptr,
                                                                  weight_dtype(ctx)));
  };
  d.plan = [](PlanContext& ctx) {
    // Plan from the weights when they are here, else from the folder's config.json (bf16 weights assumed
    // unless weight_dtype says), so that a render can be planned before the checkpoint is downloaded.
    const std::optional<gpu::DType> dtype = weight_dtype(ctx);
    FluxConfig c;
    PlanInfo p;
    uint64_t fp8_bytes = 0;  // the same weights with fp8 matrices: the --dry-run hint when the model streams
    std::optional<nlohmann::json> cfg;
    // Each block's device bytes, in the order the transformer runs them: the memory plan streams the
    // blocks exactly as the run would (core/block_stream_plan.h).
    Json blocks = Json::array();
    if (auto w = open_node_weights_or_config(ctx, kWrapper, cfg)) {
      FluxLayout layout;
      c = detect_flux_config(*w, &layout);
      if (layout == FluxLayout::BFL) convert_bfl_flux(*w, c);
      p.weight_bytes = weights_device_bytes(*w, dtype);
      fp8_bytes = weights_device_bytes(*w, gpu::DType::F8E4M3FN);  // as uploaded (vectors, and fp8 matrices as stored, become f32)
      for (uint64_t b : block_device_bytes(*w, flux_block_prefixes(c), dtype)) blocks.push_back(b);
      if (dtype) p.shape = "(" + weight_dtype_text(dtype, "") + " matrices) ";
    } else {
      c = flux_config_from_json(*cfg);
      const auto shapes = flux_checkpoint_shapes(c);
      p.weight_bytes = weights_device_bytes(shapes, DType::BF16, dtype);
      fp8_bytes = weights_device_bytes(shapes, DType::BF16, gpu::DType::F8E4M3FN);
      p.shape = "(config only, " + weight_dtype_text(dtype, "bf16") + ") ";
      for (uint64_t b : block_device_bytes(shapes, flux_block_prefixes(c), DType::BF16, dtype)) blocks.push_back(b);
    }
    c.scheduler = flux_pipeline_scheduler(ctx.in_path("path"));
    p.shape += "FLUX transformer " + std::to_string(c.num_layers) + "+" + std::to_string(c.num_single_layers) +
               " blocks, width " + std::to_string(c.inner_dim()) + (c.guidance_embeds ? ", guidance embedding" : "");
    p.meta = {{"params", c.parameter_count()}, {"inner", c.inner_dim()}, {"double", c.num_layers},
              {"single", c.num_single_layers}, {"mlp", c.mlp_hidden()}, {"in_channels", c.in_channels},
              {"joint", c.joint_attention_dim}, {"head_dim", c.attention_head_dim}, {"pooled", c.pooled_projection_dim},
              {"block_bytes", blocks}, {"fp8_weight_bytes", fp8_bytes},
              {"guidance_embeds", c.guidance_embeds}};
    if (c.scheduler) p.meta["scheduler"] = flow_match_config_to_json(*c.scheduler);
    ctx.set_output("dit", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
