#pragma once
/// The evaluator. Given a valid graph and the nodes wanted, it computes a cache key for every node they
/// depend on (cache.h says what a key holds), then evaluates on demand: a wanted node whose key is in the
/// memory cache (or the disk cache) is not run, and neither is anything upstream of it; otherwise its
/// inputs are evaluated first, then the node. So changing one parameter re-runs that node and what depends
/// on it, nothing else. Side-effect nodes (image.save) re-run on a cache hit if a file they wrote is gone.
///
/// Streams: when an output feeds exactly one input, that input accepts streams (PortDesc::accepts_stream)
/// and the producing node is not a target, the producer may set a transient value (a VideoStream) there
/// (EvalContext::may_stream); its work then runs inside the consumer (ltx.vae_decode -> video.save encodes
/// while it decodes). An evaluation with a transient output is put in neither cache and reports
/// "streamed": true; setting one where may_stream is false is an error.
///
/// Threading: one Engine evaluates on one thread at a time (the caller's). Observer callbacks come from that
/// thread; cancellation may be requested from any thread through the CancelToken and is honoured between
/// nodes and at the nodes' own check points, ending in Error(Cancelled). Errors from nodes come out as
/// lattice::Error(Evaluation) naming the node; an invalid graph as Error(InvalidInput) before anything runs.

#include <filesystem>
#include <string>
#include <vector>

#include "core/cache.h"
#include "core/eval_context.h"
#include "core/graph.h"

namespace lattice {

struct RenderOptions {
  /// Node ids to evaluate; empty = every side-effect node (or, if there is none, every node without consumers).
  std::vector<std::string> targets;
  int64_t frame = 0;
  std::filesystem::path base_dir = ".";    ///< relative input paths resolve here (the project's folder)
  std::filesystem::path output_dir = ".";  ///< relative output paths resolve here
  Observer* observer = nullptr;
  const CancelToken* cancel = nullptr;
  Environment* env = nullptr;
  const Json* document = nullptr;  ///< the project JSON that image outputs embed
  /// plan() only: the device budgets the plan is made for (--dry-run's --vram-budget, in bytes), for nodes
  /// whose run decides by the budget (vae.decode's automatic tiles: PlanContext::budgets()).
  std::vector<uint64_t> plan_budgets;
};

struct NodeReport {
  std::string id, type;
  std::string status;  ///< "executed" or "cached"
  double ms = 0;
  Json info = Json::object();  ///< figures the node reported (EvalContext::report), when it executed
};

struct RenderReport {
  std::vector<NodeReport> nodes;     ///< every node the targets depend on, in dependency order
  std::vector<std::string> outputs;  ///< files written (or already written, when cached)
  double total_ms = 0;
  int executed = 0, cached = 0;
  /// Cached device values the memory cache spilled to host memory during the render, and the device
  /// bytes that freed (cache.h: device residency).
  size_t spills = 0, spilled_bytes = 0;
};

struct PlanRow {
  std::string id, type;
  std::vector<std::pair<std::string, PlanInfo>> outputs;  ///< empty info.shape = unknown
};

class Engine {
 public:
  explicit Engine(MemoryCache* memory, DiskCache* disk = nullptr) : memory_(memory), disk_(disk) {}

  RenderReport render(const Graph& g, const RenderOptions& o);
  /// The value of one output, evaluating what it needs. Throws if the node or port does not exist.
  Value evaluate(const Graph& g, const std::string& node_id, const std::string& output, const RenderOptions& o,
                 RenderReport* report = nullptr);
  /// --dry-run: validates and propagates shapes and costs without evaluating.
  std::vector<PlanRow> plan(const Graph& g, const RenderOptions& o);
  /// Cache keys of the given targets' dependencies (exposed for tests and the editor's state display).
  std::vector<std::pair<std::string, Key128>> keys(const Graph& g, const RenderOptions& o);

  /// Number of node evaluations this engine ran (all renders); tests count re-runs with it.
  size_t executions() const { return executions_; }

 private:
  struct Run;
  void evaluate_node(Run& run, size_t index);
  MemoryCache* memory_;
  DiskCache* disk_;
  size_t executions_ = 0;
};

/// Default render targets: side-effect nodes, else nodes whose outputs feed nothing.
std::vector<std::string> default_targets(const Graph& g);

}  // namespace lattice
