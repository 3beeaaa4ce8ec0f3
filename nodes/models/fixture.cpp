#include "nodes/models/fixture.h"

#include <map>
#include <mutex>

#include "core/error.h"
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

WeightSource fixture_weights(const Fixture& fx, const std::string& prefix) {  // NOLINT
  WeightSource w = WeightSource::open(fx.file().name());
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
  FixtureOutputs outputs;
  try {
    outputs = (*runner)(fx);
  } catch (const Error&) {
    throw;
  } catch (const nlohmann::json::exception& e) {
    throw_invalid(in.string() + ": config or run metadata is not usable: " + e.what());
  } catch (const std::exception& e) {
    throw_eval(in.string() + ": running " + fx.cls() + " failed: " + e.what());
  }
  // Every reference output must be produced, with the reference's shape.
  for (const auto& name : fx.output_names()) {
    const HostTensor* got = nullptr;
    for (const auto& [n, t] : outputs)
      if (n == name) got = &t;
    if (!got) throw_eval(in.string() + ": the " + fx.cls() + " runner did not produce '" + name + "'");
    if (got->shape != fx.file().find(name)->shape)
      throw_eval(in.string() + ": '" + name + "' has shape " + got->shape_string() + ", the reference " +
                 HostTensor{DType::F32, fx.file().find(name)->shape, {}}.shape_string());
  }
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : outputs) list.emplace_back(n, &t);
  write_safetensors(out, list, {{"class", fx.cls()}, {"component", fx.component()}, {"writer", "lattice --run-fixture"}});
  return outputs.size();
}

}  // namespace lattice
