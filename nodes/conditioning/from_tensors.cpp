// conditioning.from_tensors: FLUX conditioning from stored embeddings (e.g. encoded by another tool).
#include "core/eval_context.h"
#include "nodes/types/model_handles.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "conditioning.from_tensors";
  d.category = "Conditioning";
  d.description = "FLUX conditioning from a tensor set holding prompt embeddings and a pooled embedding";
  d.inputs = {{"tensors", PortType::Tensors, "the set holding both tensors"}};
  d.outputs = {{"conditioning", PortType::Conditioning, "prompt embeddings [B, L, D] and pooled [B, P]"}};
  d.params = {{"prompt_embeds", ParamType::String, "prompt_embeds", "name of the [B, L, D] tensor"},
              {"pooled", ParamType::String, "pooled_prompt_embeds", "name of the [B, P] tensor"}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& set = ctx.input_as<TensorSetData>("tensors");
    const HostTensor* p = set.find(ctx.string("prompt_embeds"));
    const HostTensor* q = set.find(ctx.string("pooled"));
    if (!p) ctx.fail("no tensor named '" + ctx.string("prompt_embeds") + "'");
    if (!q) ctx.fail("no tensor named '" + ctx.string("pooled") + "'");
    if (p->shape.size() != 3 || q->shape.size() != 2 || p->shape[0] != q->shape[0])
      ctx.fail("expected [B, L, D] and [B, P], got " + p->shape_string() + " and " + q->shape_string());
    ctx.set_output("conditioning", std::make_shared<ConditioningData>(HostTensor::from_f32(p->shape, p->to_f32()),
                                                                      HostTensor::from_f32(q->shape, q->to_f32())));
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
