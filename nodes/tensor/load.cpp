// tensor.load: the tensors of a .safetensors file, as a named set, or one of them.
#include "core/safetensors.h"
#include "core/eval_context.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "tensor.load";
  d.category = "Tensor";
  d.description = "Read tensors from a .safetensors file";
  d.outputs = {{"tensors", PortType::Tensors, "every tensor of the file (or only 'name' if set)"},
               {"tensor", PortType::Tensor, "the tensor called 'name' (the first one if 'name' is empty)"}};
  d.params = {{"path", ParamType::InPath, "", ".safetensors file; relative paths are relative to the project file"},
              {"name", ParamType::String, "", "tensor to select; empty = all for 'tensors', the first for 'tensor'"}};
  d.evaluate = [](EvalContext& ctx) {
    const auto path = ctx.in_path("path");
    if (path.empty()) ctx.fail("parameter 'path' is empty");
    SafetensorsFile f(path);
    const std::string name = ctx.string("name");
    if (f.tensors().empty()) ctx.fail(path.string() + " holds no tensors");
    std::vector<TensorSetData::Entry> entries;
    if (name.empty()) {
      for (const auto& t : f.tensors()) entries.emplace_back(t.name, f.load(t.name));
    } else {
      entries.emplace_back(name, f.load(name));
    }
    ctx.set_output("tensor", std::make_shared<TensorData>(entries.front().second));
    ctx.set_output("tensors", std::make_shared<TensorSetData>(std::move(entries)));
  };
  d.plan = [](PlanContext& ctx) {
    const auto path = ctx.in_path("path");
    SafetensorsFile f(path);
    uint64_t bytes = 0;
    Json shapes = Json::object();  // of the set's tensors by name, for plans downstream (conditioning.from_tensors)
    for (const auto& t : f.tensors()) {
      bytes += t.end - t.begin;
      if (ctx.string("name").empty() || t.name == ctx.string("name")) shapes[t.name] = t.shape;
    }
    PlanInfo all{"tensors (" + std::to_string(f.tensors().size()) + ")", 0, 0, bytes, {{"shapes", shapes}}};
    ctx.set_output("tensors", all);
    const TensorInfo* one = ctx.string("name").empty() ? (f.tensors().empty() ? nullptr : &f.tensors().front())
                                                       : f.find(ctx.string("name"));
    if (!one) throw_invalid(ctx.who() + ": " + path.string() + " has no tensor '" + ctx.string("name") + "'", {ctx.node_id()});
    ctx.set_output("tensor", {"tensor " + std::string(dtype_name(one->dtype)) + " " + HostTensor{one->dtype, one->shape, {}}.shape_string(),
                              0, 0, one->end - one->begin, {{"shape", one->shape}}});
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
