#include "nodes/models/fixture.h"

#include <map>
#include <mutex>

#include "core/error.h"
#include "gpu/error.h"
#include "nodes/gpu_service.h"
#include "nodes/models/weights.h"

namespace lattice {

namespace {
std::map<std::string, FixtureRunner>& runners() {
  static std::map<std::string, FixtureRunner> r;
  return r;
}

nlohmann::json parse_meta_json(const SafetensorsFile& f, const char* key) {
  auto it = f.metadata().find(key);
  if (it == f.metadata().end()) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw_invalid(f.name() + ": metadata '" + key + "' is not valid JSON: " + e.what());
  }
}
}  // namespace

Fixture::Fixture(const std::filesystem::path& path) : file_(path) {
  auto it = file_.metadata().find("class");
  if (it == file_.metadata().end()) throw_invalid(file_.name() + ": not a fixture (no 'class' in the metadata)");
  cls_ = it->second;
  auto comp = file_.metadata().find("component");
  component_ = comp == file_.metadata().end() ? cls_ : comp->second;
  config_ = parse_meta_json(file_, "config");
  run_ = parse_meta_json(file_, "run");
}

void Fixture::refuse(const std::string& what) const { throw_invalid(name() + ": " + what); }

HostTensor Fixture::tensor(const std::string& name) const {
  if (!has(name)) throw_invalid(file_.name() + ": fixture has no tensor '" + name + "'");
  return file_.load(name);
}

std::vector<float> Fixture::f32(const std::string& name) const { return tensor(name).to_f32(); }

std::vector<std::string> Fixture::output_names() const {
  std::vector<std::string> out;
  for (const auto& t : file_.tensors())
    if (t.name.rfind("output.", 0) == 0) out.push_back(t.name);
  return out;
}

void register_fixture_runner(const std::string& cls, FixtureRunner runner) { runners()[cls] = std::move(runner); }

const FixtureRunner* find_fixture_runner(const std::string& cls) {
  auto it = runners().find(cls);
  return it == runners().end() ? nullptr : &it->second;
}

gpu::Tensor upload_fixture_tensor(gpu::Context& ctx, const Fixture& fx, const std::string& name) {
  const HostTensor t = fx.tensor(name);
  return gpu::Tensor::from_floats(ctx, t.to_f32(), t.shape);
}

TensorShapes prefixed(const TensorShapes& shapes, const std::string& prefix) {
  TensorShapes out;
  out.reserve(shapes.size());
  for (const auto& [name, shape] : shapes) out.emplace_back(prefix + name, shape);
  return out;
}

void check_fixture_weights(const Fixture& fx, const TensorShapes& expected) {
  std::map<std::string, const std::vector<int64_t>*> want;
  for (const auto& [name, shape] : expected) want["weights." + name] = &shape;
  for (const auto& [name, shape] : want) {
    const TensorInfo* t = fx.file().find(name);
    if (!t) fx.refuse("weight '" + name + "' is missing (the config needs it, shaped " + gpu::shape_string(*shape) + ")");
    if (t->shape != *shape)
      fx.refuse("weight '" + name + "' is " + gpu::shape_string(t->shape) + ", the config needs " + gpu::shape_string(*shape));
  }
  for (const auto& t : fx.file().tensors())
    if (t.name.rfind("weights.", 0) == 0 && !want.count(t.name))
      fx.refuse("weight '" + t.name + "' is not part of the component the config describes");
}

FixtureShapes& FixtureShapes::need(const std::string& name, const std::vector<Dim>& dims) {
  const TensorInfo* t = fx_.file().find(name);
  std::string want = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) want += ", ";
    if (const auto* n = std::get_if<int64_t>(&dims[i]))
      want += *n == kAnyDim ? "*" : std::to_string(*n);
    else
      want += std::get<std::string>(dims[i]);
  }
  want += "]";
  if (!t) fx_.refuse("fixture has no tensor '" + name + "' (expected " + want + ")");
  auto refuse = [&](const std::string& why) {
    fx_.refuse("'" + name + "' is " + gpu::shape_string(t->shape) + ", expected " + want + why);
  };
  if (t->shape.size() != dims.size()) refuse("");
  std::map<std::string, std::pair<int64_t, std::string>> bound = bound_;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t got = t->shape[i];
    if (const auto* n = std::get_if<int64_t>(&dims[i])) {
      if (*n != kAnyDim && got != *n) refuse("");
      continue;
    }
    const std::string& d = std::get<std::string>(dims[i]);
    auto it = bound.find(d);
    if (it == bound.end())
      bound[d] = {got, name};
    else if (it->second.first != got)
      refuse(" with " + d + " = " + std::to_string(it->second.first) + " (from " + it->second.second + ")");
  }
  bound_ = std::move(bound);
  return *this;
}

bool FixtureShapes::optional(const std::string& name, const std::vector<Dim>& dims) {
  if (!fx_.has(name)) return false;
  need(name, dims);
  return true;
}

int64_t FixtureShapes::operator[](const std::string& dim) const {
  auto it = bound_.find(dim);
  if (it == bound_.end()) fx_.refuse("no tensor gives the size " + dim);
  return it->second.first;
}

void FixtureShapes::bind(const std::string& dim, int64_t size, const std::string& from) {
  auto it = bound_.find(dim);
  if (it != bound_.end() && it->second.first != size)
    fx_.refuse(from + " gives " + dim + " = " + std::to_string(size) + ", " + it->second.second + " " +
               std::to_string(it->second.first));
  bound_[dim] = {size, from};
}

WeightSource fixture_weights(const Fixture& fx, const std::string& prefix) {  // NOLINT
  WeightSource w = WeightSource::open(fx.file().name());
  for (const auto& name : w.names())
    if (name.rfind(prefix, 0) != 0) w.remove(name);
  w.strip_prefix(prefix);
  return w;
}

size_t run_fixture_file(const std::filesystem::path& in, const std::filesystem::path& out) {
  Fixture fx(in);
  const FixtureRunner* runner = find_fixture_runner(fx.cls());
  if (!runner) {
    std::string known;
    for (const auto& [k, v] : runners()) known += (known.empty() ? "" : ", ") + k;
    throw_invalid(in.string() + ": class '" + fx.cls() + "' is not supported (supported: " + known + ")");
  }
  // Sorting what went wrong (fixture.h): the fixture's fault is InvalidInput naming the file; the device's
  // (lost, out of memory, a Vulkan failure) stays Evaluation.
  auto named = [&](const std::string& what) {
    return what.rfind(fx.name(), 0) == 0 || what.rfind(in.string(), 0) == 0 ? what : in.string() + ": " + what;
  };
  // A device that cannot be had (none, LATTICE_DEVICE matching none, missing features) is not the fixture's
  // fault: it is found out here, before the runner, where its Unsupported failures would read as the fixture's.
  try {
    GpuService().context();
  } catch (const gpu::DeviceError& e) {
    throw_eval(in.string() + ": no usable Vulkan device to run " + fx.cls() + ": " + e.what());
  }
  FixtureOutputs outputs;
  try {
    outputs = (*runner)(fx);
  } catch (const gpu::DeviceError& e) {
    if (e.failure() != gpu::Failure::Unsupported) throw_eval(in.string() + ": running " + fx.cls() + " failed: " + e.what());
    throw_invalid(in.string() + ": " + fx.cls() + " cannot run this fixture: " + e.what());
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Cancelled) throw;
    // A plain Error from nodes/ is a model refusing its config or inputs: the fixture's tensors disagree.
    throw_invalid(named(e.what()));
  } catch (const nlohmann::json::exception& e) {
    throw_invalid(in.string() + ": config or run metadata is not usable: " + e.what());
  } catch (const std::logic_error& e) {  // out_of_range, invalid_argument, length_error: sizes from the file
    throw_invalid(in.string() + ": " + fx.cls() + " cannot run this fixture: " + e.what());
  } catch (const std::exception& e) {  // bad_alloc and the like
    throw_eval(in.string() + ": running " + fx.cls() + " failed: " + e.what());
  }
  // Every reference output must be produced, with the reference's shape: else the fixture asks for what its
  // config and inputs do not give.
  for (const auto& name : fx.output_names()) {
    const HostTensor* got = nullptr;
    for (const auto& [n, t] : outputs)
      if (n == name) got = &t;
    if (!got) throw_invalid(in.string() + ": the " + fx.cls() + " runner does not compute '" + name + "'");
    if (got->shape != fx.file().find(name)->shape)
      throw_invalid(in.string() + ": '" + name + "' is " + gpu::shape_string(fx.file().find(name)->shape) + ", but the config and inputs give " +
                    got->shape_string());
  }
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : outputs) list.emplace_back(n, &t);
  write_safetensors(out, list, {{"class", fx.cls()}, {"component", fx.component()}, {"writer", "lattice --run-fixture"}});
  return outputs.size();
}

}  // namespace lattice
