#pragma once
/// Reference fixtures (tests/golden/README.md): a safetensors file holding a component's class, config,
/// call parameters, weights (`weights.`), inputs (`input.`) and the reference outputs (`output.`).
/// `lattice --run-fixture IN --out OUT` builds the component named by the `class` metadata from the stored
/// config and weights, feeds the stored inputs, and writes every computed output under the fixture's
/// `output.` names. Runners register per class beside the model they run (FixtureRegistrar); they must
/// work for any valid configuration of their class, not only the stored ones.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "gpu/tensor.h"
#include "nodes/models/weights.h"

namespace lattice {

class Fixture {
 public:
  /// Opens and checks the metadata. Throws Error(InvalidInput) for a file that is not a fixture.
  explicit Fixture(const std::filesystem::path& path);
  const std::string& cls() const { return cls_; }
  const std::string& component() const { return component_; }
  const nlohmann::json& config() const { return config_; }
  const nlohmann::json& run() const { return run_; }
  const SafetensorsFile& file() const { return file_; }
  bool has(const std::string& name) const { return file_.find(name) != nullptr; }
  /// A stored tensor as float32 values (throws naming the tensor if absent).
  std::vector<float> f32(const std::string& name) const;
  HostTensor tensor(const std::string& name) const;
  /// Names of the reference outputs, in file order.
  std::vector<std::string> output_names() const;

 private:
  SafetensorsFile file_;
  std::string cls_, component_;
  nlohmann::json config_, run_;
};

using FixtureOutputs = std::vector<std::pair<std::string, HostTensor>>;
using FixtureRunner = std::function<FixtureOutputs(const Fixture&)>;

void register_fixture_runner(const std::string& cls, FixtureRunner runner);
const FixtureRunner* find_fixture_runner(const std::string& cls);

struct FixtureRegistrar {
  FixtureRegistrar(const char* cls, FixtureRunner r) { register_fixture_runner(cls, std::move(r)); }
};

/// The fixture's weights with `prefix` stripped from their names, as a WeightSource.
WeightSource fixture_weights(const Fixture& fx, const std::string& prefix = "weights.");

/// A stored tensor uploaded to `ctx` as f32 (runner inputs).
gpu::Tensor upload_fixture_tensor(gpu::Context& ctx, const Fixture& fx, const std::string& name);

/// Runs a fixture and writes OUT. Throws Error(InvalidInput) for a malformed or unsupported fixture and
/// Error(Evaluation) if running fails. Returns the number of outputs written.
size_t run_fixture_file(const std::filesystem::path& in, const std::filesystem::path& out);

}  // namespace lattice
