// ltx.text_encode: a prompt to LTX-Video conditioning: T5 states over 128 tokens with their padding mask
// (LTXPipeline encodes with the mask and passes it on to the transformer's cross-attention).
#include "core/eval_context.h"
#include "nodes/gpu_service.h"
#include "nodes/types/ltx_handles.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "ltx.text_encode";
  d.category = "LTX-Video";
  d.description = "Encode a prompt for LTX-Video: T5 token states and their padding mask";
  d.inputs = {{"text_encoder", PortType::TextEncoder, "from ltx.load_text_encoder (or flux.load_text_encoders: its T5 is used)"}};
  d.outputs = {{"conditioning", PortType::Conditioning, "prompt states [1, max_length, 4096] and mask [1, max_length]"}};
  d.params = {{"prompt", ParamType::String, "", "the text (empty for the negative / unconditional prompt)"},
              {"max_length", ParamType::Int, 128, "T5 tokens (LTXPipeline: 128)", 8, 4096},
              {"release", ParamType::Bool, true, "free the encoder's device memory afterwards (sequential offloading)"}};
  d.evaluate = [](EvalContext& ctx) {
    const Data* in = ctx.input("text_encoder").get();
    const T5Handle* t5 = nullptr;
    const T5Tokenizer* tok = nullptr;
    if (const auto* l = dynamic_cast<const LtxTextEncoderData*>(in)) {
      t5 = l->t5.get();
      tok = &l->tokenizer;
    } else if (const auto* f = dynamic_cast<const FluxTextEncodersData*>(in)) {
      t5 = f->t5.get();
      tok = &f->t5_tokenizer;
    } else {
      ctx.fail("input 'text_encoder' holds " + in->describe() + ", not a T5 text encoder");
    }
    const TokenBatch ids = tok->encode_padded(ctx.string("prompt"), static_cast<int>(ctx.integer("max_length")));
    gpu::Context& gc = gpu_context(ctx);
    gpu::CommandStream s(gc);
    const gpu::Tensor t = t5->model(gc).encode(s, std::span<const TokenBatch>(&ids, 1), true);
    s.finish();
    ctx.progress(1.0, "T5");
    std::vector<float> mask(ids.attention_mask.begin(), ids.attention_mask.end());
    auto cond = std::make_shared<LtxConditioningData>(HostTensor::from_f32(t.shape(), t.to_floats()), std::move(mask));
    if (ctx.flag("release")) t5->release();
    ctx.set_output("conditioning", cond);
  };
  d.plan = [](PlanContext& ctx) {
    PlanInfo p;
    const PlanInfo* enc = ctx.input("text_encoder");
    const std::string width = enc && enc->meta.contains("d_model") ? std::to_string(enc->meta["d_model"].get<int>()) : "D";
    p.shape = "LTX conditioning [1, " + std::to_string(ctx.integer("max_length")) + ", " + width + "] + mask";
    p.meta = {{"tokens", ctx.integer("max_length")}};  // the text length ltx.sample's plan runs with
    ctx.set_output("conditioning", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
