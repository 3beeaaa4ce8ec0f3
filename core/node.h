#pragma once
/// The node registry. Each node type is described by one NodeDesc, written in one file beside its
/// evaluate function and registered with LATTICE_REGISTER_NODE; nothing else in the code base lists
/// node types. A NodeDesc is immutable after registration; registration happens during static
/// initialisation, lookups may come from any thread afterwards.
///
/// Contract for evaluate functions: read inputs and parameters from the EvalContext, set every output
/// (the engine checks), report progress, call ctx.check_cancel() at safe points, and throw lattice::Error
/// (or any std::exception, which the engine wraps as an evaluation error) on failure. They must be
/// deterministic functions of their inputs, parameters and the identities the node declares for its key.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/value.h"

namespace lattice {

class ImageData;
using Json = nlohmann::ordered_json;

enum class ParamType : uint8_t {
  Float,
  Int,
  Bool,
  String,   ///< free text (prompts)
  Choice,   ///< one of `choices`
  InPath,   ///< a file or folder the node reads; its identity (size, mtime) joins the cache key
  OutPath,  ///< a file the node writes, relative paths resolve against the output directory
  Seed,     ///< 64-bit unsigned integer, editor offers randomise
  Color,    ///< [r, g, b, a] floats
};
std::string_view param_type_name(ParamType t);

struct PortDesc {
  std::string name;
  PortType type;
  std::string description;
  bool optional = false;
  /// This input also takes a transient value produced while it is consumed (a VideoStream for a Video
  /// input, core/types/video_stream.h); the node must handle both kinds.
  bool accepts_stream = false;
};

struct ParamDesc {
  std::string name;
  ParamType type;
  Json default_value;
  std::string description;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  std::vector<std::string> choices;
  /// Optional further check of a value of the right type (e.g. a file extension the node can write): the
  /// problem, or nullopt. validate() and resolved_params() apply it, so a bad value is refused before anything runs.
  std::function<std::optional<std::string>(const Json&)> check;
  /// InPath only, optional: other files the node reads because of this path (e.g. a diffusers pipeline's
  /// scheduler config beside the transformer folder given); their identity joins the cache key as the path's does.
  std::function<std::vector<std::filesystem::path>(const std::filesystem::path&)> also_reads;
};

/// Output shape and cost estimate computed without running the node (--dry-run).
struct PlanInfo {
  std::string shape;         ///< human-readable output description, e.g. "image 512x512x4"
  double flops = 0;          ///< estimated floating-point operations
  uint64_t weight_bytes = 0; ///< bytes of model weights the node loads
  uint64_t activation_bytes = 0;
  Json meta;                 ///< machine-readable shape info consumed by downstream infer functions
};

class EvalContext;
class PlanContext;

struct NodeDesc {
  std::string type;         ///< dotted name, e.g. "image.load"
  std::string category;     ///< palette group, e.g. "Image"
  std::string description;  ///< one line
  int version = 1;          ///< bump when the output for the same inputs changes: invalidates cached results
  std::vector<PortDesc> inputs;
  std::vector<PortDesc> outputs;
  std::vector<ParamDesc> params;
  std::function<void(EvalContext&)> evaluate;
  /// Optional: fills one PlanInfo per output for --dry-run. Without it the plan says "unknown".
  std::function<void(PlanContext&)> plan;
  bool side_effect = false;     ///< writes files; a render's default targets are its side-effect nodes
  bool disk_cacheable = true;   ///< outputs may be persisted in the --cache-dir
  bool frame_dependent = false; ///< output depends on the current frame even with equal params
  /// '#' in its path parameters names a whole frame sequence (video.load, video.save), not the current
  /// frame's file: the key holds every file of an input sequence, and no frame number for the '#'.
  bool path_sequences = false;

  const PortDesc* input(std::string_view name) const;
  const PortDesc* output(std::string_view name) const;
  const ParamDesc* param(std::string_view name) const;
};

class NodeRegistry {
 public:
  static NodeRegistry& instance();
  /// Registers a node type; a duplicate type name is a programming error and aborts.
  void add(NodeDesc desc);
  const NodeDesc* find(std::string_view type) const;
  /// All node types, sorted by type name.
  std::vector<const NodeDesc*> all() const;
  /// The catalogue printed by `lattice --list-nodes --json`.
  Json catalogue() const;

 private:
  std::map<std::string, std::unique_ptr<NodeDesc>, std::less<>> nodes_;
};

struct NodeRegistrar {
  explicit NodeRegistrar(NodeDesc (*make)()) { NodeRegistry::instance().add(make()); }
};

#define LATTICE_CONCAT_INNER(a, b) a##b
#define LATTICE_CONCAT(a, b) LATTICE_CONCAT_INNER(a, b)
/// Registers the NodeDesc returned by `fn` (a function taking no arguments) at static initialisation.
#define LATTICE_REGISTER_NODE(fn) \
  static const ::lattice::NodeRegistrar LATTICE_CONCAT(lattice_registrar_, __LINE__)(fn)

/// Progress and status callbacks. Called from the evaluating thread; implementations must be quick and
/// thread-safe with respect to whatever they share with other threads (the editor marshals to its UI thread).
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void node_started(const std::string& id, const std::string& type) { (void)id; (void)type; }
  /// fraction in [0, 1]; message may be empty.
  virtual void node_progress(const std::string& id, double fraction, const std::string& message) {
    (void)id; (void)fraction; (void)message;
  }
  /// One sampling (or other) step finished: step in 1..total.
  virtual void node_step(const std::string& id, int step, int total) { (void)id; (void)step; (void)total; }
  /// status: "executed" or "cached"
  virtual void node_finished(const std::string& id, const std::string& type, const std::string& status, double ms) {
    (void)id; (void)type; (void)status; (void)ms;
  }
  virtual void node_failed(const std::string& id, const std::string& message) { (void)id; (void)message; }
  /// Whether node_preview() is wanted. Nodes build previews only when it is (they cost a download per
  /// step), so headless renders pay nothing.
  virtual bool wants_previews() const { return false; }
  /// A small RGB picture of a node's work in progress (e.g. the latents after sampling step `step` of
  /// `total`, projected to colour). Called on the evaluating thread; the image is immutable and may be kept.
  virtual void node_preview(const std::string& id, int step, int total, std::shared_ptr<const ImageData> image) {
    (void)id; (void)step; (void)total; (void)image;
  }
  /// A non-fatal problem, e.g. a corrupt disk cache entry that was discarded.
  virtual void warning(const std::string& message) { (void)message; }
};

/// Shared cancellation flag: set from any thread, read by the evaluating thread.
class CancelToken {
 public:
  void cancel() { flag_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return flag_.load(std::memory_order_relaxed); }
  void reset() { flag_.store(false, std::memory_order_relaxed); }

 private:
  std::atomic<bool> flag_{false};
};

}  // namespace lattice
