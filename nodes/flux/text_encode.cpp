// flux.text_encode: a prompt to FLUX conditioning: T5 sequence embeddings and CLIP's pooled embedding.
#include "core/eval_context.h"
#include "nodes/gpu_service.h"
#include "nodes/types/model_handles.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "flux.text_encode";
  d.category = "FLUX";
  d.description = "Encode a prompt for FLUX: T5 token embeddings and the pooled CLIP embedding";
  // 2: CLIP cleans the prompt as FluxPipeline's (slow) CLIPTokenizer does, without openai CLIP's html.unescape.
  d.version = 2;
  d.inputs = {{"text_encoder", PortType::TextEncoder, "from flux.load_text_encoders"}};
  d.outputs = {{"conditioning", PortType::Conditioning, "prompt embeddings [1, max_length, 4096] and pooled [1, 768]"}};
  d.params = {{"prompt", ParamType::String, "", "the text"},
              {"max_length", ParamType::Int, 512, "T5 tokens: 512 for FLUX-dev, 256 for schnell", 8, 4096},
              {"release", ParamType::Bool, true, "free the encoders' device memory afterwards (sequential offloading)"}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& enc = ctx.input_as<FluxTextEncodersData>("text_encoder");
    const std::string prompt = ctx.string("prompt");
    gpu::Context& gc = gpu_context(ctx);
    // FluxPipeline: CLIP on 77 tokens padded with EOS, no mask, pooled output; T5 without a mask. Its CLIP
    // tokenizer is transformers' slow CLIPTokenizer (model_index.json), which cleans without html.unescape.
    const TokenBatch clip_ids = enc.clip_tokenizer.encode_padded(prompt, ClipTokenizer::kContextLength, -1, clip::CleanMode::HfSlow);
    const TokenBatch t5_ids = enc.t5_tokenizer.encode_padded(prompt, static_cast<int>(ctx.integer("max_length")));
    gpu::CommandStream s(gc);
    const ClipTextOutput c = enc.clip->model(gc).encode(s, std::span<const TokenBatch>(&clip_ids, 1));
    s.finish();
    ctx.progress(0.3, "CLIP");
    const std::vector<float> pooled = c.pooled.to_floats();
    const gpu::Tensor pooled_shape = c.pooled;
    if (ctx.flag("release")) enc.clip->release();
    ctx.check_cancel();
    const gpu::Tensor t = enc.t5->model(gc).encode(s, std::span<const TokenBatch>(&t5_ids, 1), false);
    s.finish();
    ctx.progress(1.0, "T5");
    auto cond = std::make_shared<ConditioningData>(HostTensor::from_f32(t.shape(), t.to_floats()),
                                                   HostTensor::from_f32(pooled_shape.shape(), pooled));
    if (ctx.flag("release")) enc.t5->release();
    ctx.set_output("conditioning", cond);
  };
  d.plan = [](PlanContext& ctx) {
    // The T5 sequence is padded to max_length: the sampler's text tokens (flux.sample's plan reads them).
    const int64_t tokens = ctx.integer("max_length");
    PlanInfo p;
    p.shape = "conditioning: " + std::to_string(tokens) + " T5 tokens + pooled CLIP";
    p.meta = {{"tokens", tokens}};
    ctx.set_output("conditioning", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
