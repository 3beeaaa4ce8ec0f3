// tensor.save: writes a tensor or a tensor set to a .safetensors file, atomically.
#include "core/safetensors.h"
#include "core/eval_context.h"
#include "core/types/basic.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "tensor.save";
  d.category = "Tensor";
  d.description = "Write tensors to a .safetensors file";
  d.inputs = {{"tensors", PortType::Tensors, "a named set of tensors", true},
              {"tensor", PortType::Tensor, "one tensor, stored under 'name'", true}};
  d.outputs = {{"path", PortType::String, "absolute path of the written file"}};
  d.params = {{"path", ParamType::OutPath, "output.safetensors", "file to write; relative paths go to the output folder"},
              {"name", ParamType::String, "tensor", "name for the single 'tensor' input"}};
  d.side_effect = true;
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    std::vector<std::pair<std::string, const HostTensor*>> list;
    if (ctx.has_input("tensors"))
      for (const auto& [n, t] : ctx.input_as<TensorSetData>("tensors").entries) list.emplace_back(n, &t);
    if (ctx.has_input("tensor")) list.emplace_back(ctx.string("name"), &ctx.input_as<TensorData>("tensor").tensor);
    if (list.empty()) ctx.fail("connect 'tensors' or 'tensor'");
    const auto path = std::filesystem::absolute(ctx.out_path("path"));
    write_safetensors(path, list, {{"writer", "lattice"}});
    ctx.wrote_file(path);
    ctx.set_output("path", make_string(path.string()));
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
