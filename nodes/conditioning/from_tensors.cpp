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
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* in = ctx.input("tensors");
    if (!in || !in->meta.contains("shapes")) return;
    const Json& shapes = in->meta["shapes"];
    const std::string name = ctx.string("prompt_embeds");
    if (!shapes.contains(name) || shapes[name].size() != 3) return;  // the run says what is wrong
    const auto s = shapes[name].get<std::vector<int64_t>>();
    PlanInfo p;
    p.shape = "conditioning [" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", " + std::to_string(s[2]) + "]";
    p.meta = {{"tokens", s[1]}};  // the text length the samplers' plans run with
    ctx.set_output("conditioning", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
