// latent.from_tensor: use a stored tensor as latents (interchange with other tools, reference inputs).
#include "core/eval_context.h"
#include "nodes/types/tensor_value.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "latent.from_tensor";
  d.category = "Latent";
  d.description = "Use a tensor [B, C, h, w] (image) or [B, C, T, h, w] (video) as latents";
  d.inputs = {{"tensor", PortType::Tensor, "a 4-D or 5-D tensor"}};
  d.outputs = {{"latent", PortType::Latent, "the same values as latents"}};
  d.evaluate = [](EvalContext& ctx) {
    const HostTensor& t = ctx.input_as<TensorData>("tensor").tensor;
    if (t.shape.size() != 4 && t.shape.size() != 5)
      ctx.fail("latents must be 4-D [B, C, h, w] or 5-D [B, C, T, h, w], got " + t.shape_string());
    ctx.set_output("latent", std::make_shared<TensorValue>(PortType::Latent, HostTensor::from_f32(t.shape, t.to_f32())));
  };
  d.plan = [](PlanContext& ctx) {
    // The stored tensor's shape (tensor.load's plan), as the samplers' plans describe latents.
    const PlanInfo* in = ctx.input("tensor");
    if (!in || !in->meta.contains("shape")) return;
    const auto shape = in->meta["shape"].get<std::vector<int64_t>>();
    if (shape.size() != 4 && shape.size() != 5) return;
    PlanInfo p;
    p.shape = "latent " + HostTensor{DType::F32, shape, {}}.shape_string();
    p.meta = {{"c", shape[1]}, {"h", shape[shape.size() - 2]}, {"w", shape.back()}};
    if (shape.size() == 5) p.meta["t"] = shape[2];
    ctx.set_output("latent", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
