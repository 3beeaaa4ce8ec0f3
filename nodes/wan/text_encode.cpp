// wan.text_encode: a prompt to Wan conditioning, as WanPipeline encodes it: the text cleaned (ftfy subset,
// html.unescape twice, whitespace collapsed; clip/text_clean.h), tokenized to
// 512 UMT5 tokens (cut or padded), encoded with the attention mask, and the padded rows set to zero.
#include "core/eval_context.h"
#include "nodes/gpu_service.h"
#include "nodes/models/clip/text_clean.h"
#include "nodes/types/wan_handles.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "wan.text_encode";
  d.category = "Wan";
  d.description = "Encode a prompt for Wan 2.1: UMT5 embeddings of 512 tokens, padding rows zeroed";
  d.inputs = {{"text_encoder", PortType::TextEncoder, "from wan.load_text_encoder"}};
  d.outputs = {{"conditioning", PortType::Conditioning, "prompt embeddings [1, max_length, 4096] (no pooled part)"}};
  d.params = {{"prompt", ParamType::String, "", "the text (an empty prompt is the usual negative)"},
              {"max_length", ParamType::Int, kWanTextTokens, "UMT5 tokens (WanPipeline: 512)", 8, 4096},
              {"release", ParamType::Bool, true, "free the encoder's device memory afterwards (sequential offloading)"}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& enc = ctx.input_as<WanTextEncoderData>("text_encoder");
    gpu::Context& gc = gpu_context(ctx);
    const TokenBatch ids = enc.tokenizer.encode_padded(clip::clean_prompt(ctx.string("prompt"), clip::CleanMode::KeepCase), static_cast<int>(ctx.integer("max_length")));
    gpu::CommandStream s(gc);
    const gpu::Tensor t = enc.umt5->model(gc).encode(s, std::span<const TokenBatch>(&ids, 1), true);
    s.finish();
    std::vector<float> v = t.to_floats();
    // Rows past the prompt's tokens (EOS included) become zeros, as WanPipeline re-pads them.
    const size_t width = static_cast<size_t>(t.dim(2));
    std::fill(v.begin() + static_cast<std::ptrdiff_t>(ids.valid_len * width), v.end(), 0.0f);
    if (ctx.flag("release")) enc.umt5->release();
    ctx.progress(1.0, "UMT5");
    ctx.set_output("conditioning", std::make_shared<ConditioningData>(HostTensor::from_f32(t.shape(), v),
                                                                      HostTensor::from_f32({1, 0}, {})));
  };
  d.plan = [](PlanContext& ctx) {
    PlanInfo p;
    p.shape = "prompt embeddings [1, " + std::to_string(ctx.integer("max_length")) + ", 4096]";
    p.activation_bytes = static_cast<uint64_t>(ctx.integer("max_length")) * 4096 * 4;
    p.meta = {{"tokens", ctx.integer("max_length")}};  // the text length wan.sample's plan runs with
    ctx.set_output("conditioning", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
