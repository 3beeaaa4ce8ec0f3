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
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
