// wan.load_text_encoder: Wan's UMT5-XXL encoder and its SentencePiece tokenizer, from a Wan diffusers folder
// (text_encoder/, tokenizer/) or from separate paths.
#include "core/eval_context.h"
#include "nodes/models/parameter_count.h"
#include "nodes/node_weights.h"
#include "nodes/types/wan_handles.h"

namespace lattice {
namespace {

std::filesystem::path part(const ParamReader& ctx, const char* param, const char* sub) {
  return pipeline_part_path(ctx, param, sub, "a Wan pipeline folder");
}

NodeDesc make() {
  NodeDesc d;
  d.type = "wan.load_text_encoder";
  d.category = "Wan";
  d.description = "Load Wan's text encoder (UMT5-XXL) and its tokenizer";
  d.outputs = {{"text_encoder", PortType::TextEncoder, "UMT5 and its tokenizer; weights reach the device on first use"}};
  d.params = {{"path", ParamType::InPath, "", "Wan pipeline folder (diffusers layout); the others override its parts"},
              {"encoder_path", ParamType::InPath, "", "UMT5 encoder weights (file, folder, or sharded folder)"},
              {"tokenizer", ParamType::InPath, "", "UMT5 tokenizer: spiece.model or its folder"}};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    auto w = std::make_shared<WeightSource>(WeightSource::open(part(ctx, "encoder_path", "text_encoder")));
    auto umt5 = std::make_shared<T5Handle>(w, detect_t5_config(*w), w->origin());
    ctx.set_output("text_encoder",
                   std::make_shared<WanTextEncoderData>(umt5, T5Tokenizer::from_file(part(ctx, "tokenizer", "tokenizer"))));
  };
  d.plan = [](PlanContext& ctx) {
    PlanInfo p;
    const auto root = ctx.in_path("path");
    try {
      p.weight_bytes = WeightSource::open(part(ctx, "encoder_path", "text_encoder")).total_bytes();
      p.shape = "UMT5 text encoder";
    } catch (const Error&) {
      // No weights yet: plan from the pipeline folder's config (bf16 assumed) if it is there.
      auto cfg = component_config(root, "text_encoder");
      if (root.empty() || !cfg) throw;
      p.shape = "(config only, bf16) UMT5 text encoder";
      p.weight_bytes = 2 * parameter_count(t5_config_from_json(*cfg));
    }
    ctx.set_output("text_encoder", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
