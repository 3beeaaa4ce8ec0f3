#pragma once
/// What a node's evaluate (and plan) function sees: its resolved parameters, its inputs, and the
/// engine's services. One EvalContext lives for one node evaluation on the evaluating thread.

#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <typeindex>

#include "core/error.h"
#include "core/node.h"

namespace lattice {

/// Services the host program provides to nodes (the GPU device, model caches, ...), looked up by type.
/// Set up before evaluation; read-only while evaluating.
class Environment {
 public:
  template <class T>
  void set(std::shared_ptr<T> service) {
    services_[std::type_index(typeid(T))] = std::move(service);
  }
  template <class T>
  T* get() const {
    auto it = services_.find(std::type_index(typeid(T)));
    return it == services_.end() ? nullptr : static_cast<T*>(it->second.get());
  }

 private:
  std::map<std::type_index, std::shared_ptr<void>> services_;
};

/// Replaces each run of '#' in `pattern` by `frame`, zero-padded to the run's length ("a.####.png" -> "a.0007.png").
std::string substitute_frame(const std::string& pattern, int64_t frame);

/// Parameter access shared by evaluation and planning. Accessors throw Error(InvalidInput) if the
/// parameter does not exist or has another type (a programming error in the node).
class ParamReader {
 public:
  ParamReader(const std::string& id, const NodeDesc& d, const Json& params, int64_t frame,
              const std::filesystem::path& base_dir, const std::filesystem::path& output_dir)
      : id_(id), desc_(d), params_(params), frame_(frame), base_dir_(base_dir), output_dir_(output_dir) {}
  const std::string& node_id() const { return id_; }
  const NodeDesc& desc() const { return desc_; }
  const Json& params() const { return params_; }
  double number(std::string_view p) const;
  int64_t integer(std::string_view p) const;
  uint64_t seed(std::string_view p) const;
  bool flag(std::string_view p) const;
  std::string string(std::string_view p) const;
  std::array<float, 4> color(std::string_view p) const;
  /// An InPath parameter, frame-substituted, relative paths against the project folder.
  std::filesystem::path in_path(std::string_view p) const;
  /// An OutPath parameter, frame-substituted, relative paths against the output folder.
  std::filesystem::path out_path(std::string_view p) const;
  /// in_path/out_path without frame substitution: for nodes where '#' names a whole frame sequence
  /// (video.load, video.save), not the current frame's file.
  std::filesystem::path in_path_pattern(std::string_view p) const;
  std::filesystem::path out_path_pattern(std::string_view p) const;
  int64_t frame() const { return frame_; }
  /// "node 'id' (type)": prefix for messages.
  std::string who() const { return "node '" + id_ + "' (" + desc_.type + ")"; }
  [[noreturn]] void fail(const std::string& message) const { throw_eval(who() + ": " + message, {id_}); }

 private:
  const Json& get(std::string_view p) const;
  const std::string& id_;
  const NodeDesc& desc_;
  const Json& params_;
  int64_t frame_;
  const std::filesystem::path& base_dir_;
  const std::filesystem::path& output_dir_;
};

class EvalContext : public ParamReader {
 public:
  using ParamReader::ParamReader;
  bool has_input(std::string_view name) const { return inputs_.count(std::string(name)) != 0; }
  /// The value on an input port; throws if it is not connected.
  const Value& input(std::string_view name) const;
  /// The input cast to a Data subclass; throws a clear error if it is of another kind.
  template <class T>
  const T& input_as(std::string_view name) const {
    const T* p = dynamic_cast<const T*>(input(name).get());
    if (!p) fail("input '" + std::string(name) + "' holds " + input(name)->describe() + ", not the expected kind");
    return *p;
  }
  void set_output(std::string_view name, Value v);
  /// Whether this output may be set to a transient value (a VideoStream): it feeds exactly one input, which
  /// accepts streams, and this node is not what the caller asked for (engine.h).
  bool may_stream(std::string_view output) const { return streamable_.count(std::string(output)) != 0; }
  /// Records a file the node wrote (reported as a render output).
  void wrote_file(const std::filesystem::path& p) { files_.push_back(p.string()); }
  void progress(double fraction, const std::string& message = {}) const;
  /// Adds a figure to this node's entry in the render report (e.g. {"skipped_steps": 3}).
  void report(const std::string& key, Json value) { info_[key] = std::move(value); }
  void step(int i, int total) const;
  /// Whether anyone watches previews (Observer::wants_previews); build one only when this is true.
  bool wants_preview() const;
  /// Hands a work-in-progress picture to the observer (Observer::node_preview).
  void preview(int step, int total, std::shared_ptr<const ImageData> image) const;
  bool cancelled() const { return cancel_ && cancel_->cancelled(); }
  void check_cancel() const;
  Environment& env() const;
  /// The project document being rendered (embedded in written images); null when unknown.
  const Json* document() const { return document_; }

 private:
  friend class Engine;
  std::map<std::string, Value> inputs_;
  std::vector<std::pair<std::string, Value>> outputs_;
  std::set<std::string> streamable_;
  std::vector<std::string> files_;
  Json info_ = Json::object();
  Observer* observer_ = nullptr;
  const CancelToken* cancel_ = nullptr;
  Environment* env_ = nullptr;
  const Json* document_ = nullptr;
};

class PlanContext : public ParamReader {
 public:
  using ParamReader::ParamReader;
  /// Plan of the upstream output feeding `name`; null if not connected or unknown.
  const PlanInfo* input(std::string_view name) const;
  void set_output(std::string_view name, PlanInfo info) { outputs_[std::string(name)] = std::move(info); }
  /// The device budgets (bytes) the plan is made for (RenderOptions::plan_budgets; empty when none is given).
  /// A node whose run decides by the budget plans each (PlanInfo meta "by_budget").
  const std::vector<uint64_t>& budgets() const { return budgets_; }

 private:
  friend class Engine;
  std::vector<uint64_t> budgets_;
  std::map<std::string, const PlanInfo*> inputs_;
  std::map<std::string, PlanInfo> outputs_;
};

}  // namespace lattice
