// ltx.load_text_encoder: LTX-Video's T5-XXL encoder and tokenizer, from an LTX pipeline folder
// (text_encoder/, tokenizer/) or from separate paths.
#include "core/eval_context.h"
#include "nodes/models/parameter_count.h"
#include "nodes/node_weights.h"
#include "nodes/types/ltx_handles.h"

namespace lattice {
namespace {

std::filesystem::path part(const ParamReader& ctx, const char* param, const char* sub) {
  return pipeline_part_path(ctx, param, sub, "an LTX-Video pipeline folder");
}

NodeDesc make() {
  NodeDesc d;
  d.type = "ltx.load_text_encoder";
  d.category = "LTX-Video";
  d.description = "Load LTX-Video's text encoder (T5-XXL) and its tokenizer";
  d.outputs = {{"text_encoder", PortType::TextEncoder, "the encoder; weights reach the device on first use"}};
  d.params = {{"path", ParamType::InPath, "", "LTX-Video pipeline folder (diffusers layout); the others override its parts"},
              {"t5_path", ParamType::InPath, "", "T5 encoder weights (file, folder, or sharded folder)"},
              {"t5_tokenizer", ParamType::InPath, "", "T5 tokenizer: spiece.model or its folder"}};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    auto w = std::make_shared<WeightSource>(WeightSource::open(part(ctx, "t5_path", "text_encoder")));
    auto t5 = std::make_shared<T5Handle>(w, detect_t5_config(*w), w->origin());
    ctx.set_output("text_encoder",
                   std::make_shared<LtxTextEncoderData>(t5, T5Tokenizer::from_file(part(ctx, "t5_tokenizer", "tokenizer"))));
  };
  d.plan = [](PlanContext& ctx) {
    PlanInfo p;
    T5Config c;
    try {
      const WeightSource w = WeightSource::open(part(ctx, "t5_path", "text_encoder"));
      c = detect_t5_config(w);
      p.weight_bytes = w.total_bytes();
      p.shape = "T5 text encoder";
    } catch (const Error&) {
      auto cfg = component_config(ctx.in_path("path"), "text_encoder");
      if (!cfg) throw;
      c = t5_config_from_json(*cfg);
      p.shape = "(config only, bf16) T5 text encoder";
      p.weight_bytes = 2 * parameter_count(c);
    }
    p.meta = {{"d_model", c.d_model}};
    ctx.set_output("text_encoder", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
