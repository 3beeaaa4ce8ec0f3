// flux.load_text_encoders: CLIP-L and T5-XXL with their tokenizers, from a diffusers FLUX folder
// (text_encoder/, tokenizer/, text_encoder_2/, tokenizer_2/) or from separate files.
#include "core/eval_context.h"
#include "nodes/models/parameter_count.h"
#include "nodes/node_weights.h"
#include "nodes/types/model_handles.h"

namespace lattice {
namespace {

struct Sources {
  std::shared_ptr<WeightSource> clip, t5;
  std::filesystem::path clip_tok, t5_tok;
};

std::filesystem::path part(const ParamReader& ctx, const char* param, const char* sub) {
  return pipeline_part_path(ctx, param, sub, "a FLUX pipeline folder");
}

Sources open(const ParamReader& ctx) {
  Sources s;
  s.clip = std::make_shared<WeightSource>(WeightSource::open(part(ctx, "clip_path", "text_encoder")));
  s.t5 = std::make_shared<WeightSource>(WeightSource::open(part(ctx, "t5_path", "text_encoder_2")));
  s.clip_tok = part(ctx, "clip_tokenizer", "tokenizer");
  s.t5_tok = part(ctx, "t5_tokenizer", "tokenizer_2");
  return s;
}

NodeDesc make() {
  NodeDesc d;
  d.type = "flux.load_text_encoders";
  d.category = "FLUX";
  d.description = "Load FLUX's text encoders (CLIP-L and T5-XXL) and their tokenizers";
  d.outputs = {{"text_encoder", PortType::TextEncoder, "both encoders; weights reach the device on first use"}};
  d.params = {{"path", ParamType::InPath, "", "FLUX pipeline folder (diffusers layout); the others override its parts"},
              {"clip_path", ParamType::InPath, "", "CLIP text encoder weights (file or folder)"},
              {"t5_path", ParamType::InPath, "", "T5 encoder weights (file, folder, or sharded folder)"},
              {"clip_tokenizer", ParamType::InPath, "", "CLIP tokenizer folder (vocab.json + merges.txt) or BPE .gz"},
              {"t5_tokenizer", ParamType::InPath, "", "T5 tokenizer: spiece.model or its folder"}};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    Sources s = open(ctx);
    auto clip = std::make_shared<ClipHandle>(s.clip, detect_clip_text_config(*s.clip), s.clip->origin());
    auto t5 = std::make_shared<T5Handle>(s.t5, detect_t5_config(*s.t5), s.t5->origin());
    ctx.set_output("text_encoder", std::make_shared<FluxTextEncodersData>(clip, ClipTokenizer::from_files(s.clip_tok), t5,
                                                                          T5Tokenizer::from_file(s.t5_tok)));
  };
  d.plan = [](PlanContext& ctx) {
    PlanInfo p;
    try {
      Sources s = open(ctx);
      p.shape = "CLIP + T5 text encoders";
      p.weight_bytes = s.clip->total_bytes() + s.t5->total_bytes();
    } catch (const Error&) {
      // No weights yet: plan from the pipeline folder's configs (bf16 assumed) if they are there.
      const auto root = ctx.in_path("path");
      auto clip = component_config(root, "text_encoder"), t5 = component_config(root, "text_encoder_2");
      if (root.empty() || !clip || !t5) throw;
      p.shape = "(config only, bf16) CLIP + T5 text encoders";
      p.weight_bytes = 2 * (parameter_count(clip_text_config_from_json(*clip)) + parameter_count(t5_config_from_json(*t5)));
    }
    ctx.set_output("text_encoder", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
