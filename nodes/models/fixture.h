#pragma once
/// Reference fixtures (tests/golden/README.md): a safetensors file holding a component's class, config,
/// call parameters, weights (`weights.`), inputs (`input.`) and the reference outputs (`output.`).
/// `lattice --run-fixture IN --out OUT` builds the component named by the `class` metadata from the stored
/// config and weights, feeds the stored inputs, and writes every computed output under the fixture's
/// `output.` names. Runners register per class beside the model they run (FixtureRegistrar); they must
/// work for any valid configuration of their class, not only the stored ones.
///
/// Validation: a fixture whose config, weights, inputs and reference outputs disagree is refused with
/// Error(InvalidInput) (exit 3) naming the file and the key or tensor at fault. Runners check up front:
/// config values (each config's validate()), the weights against the checkpoint shapes the config implies
/// (check_fixture_weights: missing, unexpected and misshapen tensors), the inputs' and outputs' shapes
/// (FixtureShapes). What is found only while running is sorted by run_fixture_file: an op refusing its
/// arguments (gpu::Failure::Unsupported) or a model refusing its inputs (a plain Error(Evaluation) from
/// nodes/) means the fixture is inconsistent or unsupported (exit 3); device loss, out of memory and other
/// Vulkan failures stay Error(Evaluation) (exit 4).

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
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
  /// The file's name, for messages.
  const std::string& name() const { return file_.name(); }
  /// Throws Error(InvalidInput) "<file>: <what>".
  [[noreturn]] void refuse(const std::string& what) const;
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

/// Names and shapes of a component's checkpoint tensors (e.g. flux_checkpoint_shapes(config)).
using TensorShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

/// `shapes` with every name prefixed (a pipeline's components under `transformer.`, `vae.`, ...).
TensorShapes prefixed(const TensorShapes& shapes, const std::string& prefix);

/// Checks the fixture's `weights.` tensors against `expected` (names without `weights.`): each expected
/// tensor present with its shape, and no other `weights.` tensor. Throws Error(InvalidInput) naming the
/// file and the first tensor at fault.
void check_fixture_weights(const Fixture& fx, const TensorShapes& expected);

/// The shapes a runner expects of a fixture's `input.` and `output.` tensors, checked before anything is
/// built. A dimension is a size, a name bound by the first tensor that shows it (so "B" must agree across
/// tensors), or kAnyDim. Throws Error(InvalidInput) naming the file, the tensor and what was expected.
class FixtureShapes {
 public:
  using Dim = std::variant<int64_t, std::string>;
  static constexpr int64_t kAnyDim = -1;
  explicit FixtureShapes(const Fixture& fx) : fx_(fx) {}
  /// Requires tensor `name` with shape `dims`.
  FixtureShapes& need(const std::string& name, const std::vector<Dim>& dims);
  /// The same where `name` may be absent; returns whether it is present.
  bool optional(const std::string& name, const std::vector<Dim>& dims);
  /// The size bound to `dim` (throws if no tensor has bound it yet).
  int64_t operator[](const std::string& dim) const;
  /// Binds `dim` to a size from elsewhere (`from` names it for messages, e.g. "run.latent_fhw").
  void bind(const std::string& dim, int64_t size, const std::string& from);

 private:
  const Fixture& fx_;
  std::map<std::string, std::pair<int64_t, std::string>> bound_;  // size, and the tensor that bound it
};

/// The fixture's tensors named `prefix`..., with `prefix` stripped from their names, as a WeightSource (no other
/// tensor of the file: a LoRA's reader refuses keys it does not know).
WeightSource fixture_weights(const Fixture& fx, const std::string& prefix = "weights.");

/// A stored tensor uploaded to `ctx` as f32 (runner inputs).
gpu::Tensor upload_fixture_tensor(gpu::Context& ctx, const Fixture& fx, const std::string& name);

/// Runs a fixture and writes OUT. Throws Error(InvalidInput) for a malformed or unsupported fixture and
/// Error(Evaluation) if running fails. Returns the number of outputs written.
size_t run_fixture_file(const std::filesystem::path& in, const std::filesystem::path& out);

}  // namespace lattice
