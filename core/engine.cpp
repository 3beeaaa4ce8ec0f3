#include "core/engine.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <utility>

#include "core/frame_sequence.h"

namespace lattice {

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

/// Lends the engine's memory cache to the environment's device services for one render (CacheLoan), and
/// counts the spills that happened meanwhile.
class LendCache {
 public:
  LendCache(Environment* env, MemoryCache* cache) : cache_(cache) {
    if (!cache) return;
    spills_ = cache->spills();
    bytes_ = cache->spilled_bytes();
    if (!env) return;
    loan_ = env->get<CacheLoan>();
    if (!loan_) {
      env->set(std::make_shared<CacheLoan>());
      loan_ = env->get<CacheLoan>();
    }
    previous_ = std::exchange(loan_->cache, cache);
  }
  ~LendCache() {
    if (loan_) loan_->cache = previous_;
  }
  LendCache(const LendCache&) = delete;
  LendCache& operator=(const LendCache&) = delete;
  void report(RenderReport& r) const {
    if (!cache_) return;
    r.spills = cache_->spills() - spills_;
    r.spilled_bytes = cache_->spilled_bytes() - bytes_;
  }

 private:
  MemoryCache* cache_;
  CacheLoan* loan_ = nullptr;
  MemoryCache* previous_ = nullptr;
  size_t spills_ = 0, bytes_ = 0;
};

bool has_frame_pattern(const NodeDesc& d, const Json& params) {
  if (d.path_sequences) return false;  // its '#' names the whole sequence
  for (const auto& p : d.params)
    if ((p.type == ParamType::InPath || p.type == ParamType::OutPath) &&
        params.at(p.name).get_ref<const std::string&>().find('#') != std::string::npos)
      return true;
  return false;
}
/// Every file of an input frame sequence (number, size, mtime, inode): adding, removing or rewriting a frame
/// re-runs the node. A sequence that cannot be listed keys as such; the node reports the error when it runs.
void hash_sequence_identity(Hasher& h, const std::filesystem::path& pattern) {
  h.field("sequence:" + pattern.string());
  try {
    for (const auto& [n, path] : list_frame_sequence(pattern)) {
      struct stat st {};
      h.u64(static_cast<uint64_t>(n));
      if (::stat(path.c_str(), &st) != 0) continue;
      h.u64(static_cast<uint64_t>(st.st_size)).u64(static_cast<uint64_t>(st.st_mtim.tv_sec));
      h.u64(static_cast<uint64_t>(st.st_mtim.tv_nsec)).u64(st.st_ino);
    }
  } catch (const Error&) {
    h.field("unlistable");
  }
}

// A file's or folder's identity: a changed, replaced or missing file re-runs the node. A folder (a diffusers
// model folder) keys every regular file under it, up to 4 levels deep and 4,096 entries, by relative name, size,
// mtime and inode, so that a weight or config rewritten in place inside it counts as a change too.
void hash_path_identity(Hasher& h, const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto canon = fs::weakly_canonical(path, ec);
  auto file = [&](const fs::path& p, const std::string& name) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      h.field("missing:" + name);
      return;
    }
    h.field(name).u64(static_cast<uint64_t>(st.st_size)).u64(static_cast<uint64_t>(st.st_mtim.tv_sec));
    h.u64(static_cast<uint64_t>(st.st_mtim.tv_nsec)).u64(st.st_ino);
  };
  file(path, canon.string());
  if (!fs::is_directory(path, ec)) return;
  std::vector<std::string> names;
  fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end && names.size() < 4096; it.increment(ec)) {
    if (it.depth() >= 4) it.disable_recursion_pending();
    if (it->is_regular_file(ec)) names.push_back(fs::relative(it->path(), path, ec).generic_string());
  }
  std::sort(names.begin(), names.end());
  h.u64(names.size());
  for (const std::string& n : names) file(path / n, n);
}

}  // namespace

struct Engine::Run {
  const Graph& g;
  const RenderOptions& o;
  const NodeRegistry& reg = NodeRegistry::instance();
  std::map<std::string_view, size_t> index;
  std::vector<const NodeDesc*> desc;
  std::vector<Json> params;
  std::vector<Key128> key;
  std::vector<bool> needed;
  std::vector<CacheEntryPtr> result;  // filled once a node is evaluated or found in a cache
  std::vector<NodeReport> report;     // by node index
  std::vector<size_t> order;          // dependency order of the needed nodes
  std::vector<std::set<std::string>> streamable;  // outputs that may carry a transient value (may_stream)
  std::vector<std::string> outputs;

  Run(const Graph& graph, const RenderOptions& opts) : g(graph), o(opts) {}

  void prepare(const std::vector<std::string>& targets) {
    require_valid(g, reg);
    const size_t n = g.nodes.size();
    for (size_t i = 0; i < n; ++i) index.emplace(g.nodes[i].id, i);
    desc.resize(n);
    params.resize(n);
    key.resize(n);
    needed.assign(n, false);
    result.resize(n);
    report.resize(n);
    std::vector<size_t> stack;
    for (const auto& t : targets) {
      auto it = index.find(t);
      if (it == index.end()) throw_invalid("no node with id '" + t + "' to render", {t});
      stack.push_back(it->second);
    }
    while (!stack.empty()) {
      size_t i = stack.back();
      stack.pop_back();
      if (needed[i]) continue;
      needed[i] = true;
      for (const auto& [port, c] : g.nodes[i].inputs) stack.push_back(index.at(c.node));
    }
    // An output may stream when it feeds exactly one needed input, that input accepts streams, and its node
    // is not a target (a caller asking for a value gets the value).
    std::map<std::pair<size_t, std::string>, std::vector<std::pair<size_t, std::string>>> consumers;
    for (size_t i = 0; i < n; ++i)
      if (needed[i])
        for (const auto& [port, c] : g.nodes[i].inputs) consumers[{index.at(c.node), c.output}].emplace_back(i, port);
    std::set<size_t> target_set;
    for (const auto& t : targets) target_set.insert(index.at(t));
    streamable.resize(n);
    for (const auto& [out, ins] : consumers) {
      if (ins.size() != 1 || target_set.count(out.first)) continue;
      const NodeDesc* consumer = reg.find(g.nodes[ins[0].first].type);
      const PortDesc* port = consumer ? consumer->input(ins[0].second) : nullptr;
      if (port && port->accepts_stream) streamable[out.first].insert(out.second);
    }
    for (size_t i : topological_order(g)) {
      if (!needed[i]) continue;
      order.push_back(i);
      const Node& node = g.nodes[i];
      desc[i] = reg.find(node.type);
      params[i] = resolved_params(node, *desc[i]);
      key[i] = node_key(i);
      report[i] = NodeReport{node.id, node.type, "cached", 0, Json::object()};
    }
  }

  Key128 node_key(size_t i) const {
    const Node& node = g.nodes[i];
    const NodeDesc& d = *desc[i];
    Hasher h;
    h.field("lattice-node-key-1").field(d.type).u64(static_cast<uint64_t>(d.version));
    ParamReader pr(node.id, d, params[i], o.frame, o.base_dir, o.output_dir);
    for (const auto& p : d.params) {
      h.field(p.name).field(params[i][p.name].dump());
      if (p.type == ParamType::InPath && d.path_sequences && is_sequence_pattern(pr.in_path_pattern(p.name))) {
        hash_sequence_identity(h, pr.in_path_pattern(p.name));
      } else if (p.type == ParamType::InPath) {
        const auto path = pr.in_path(p.name);
        hash_path_identity(h, path);
        if (p.also_reads)
          for (const auto& other : p.also_reads(path)) hash_path_identity(h, other);
      } else if (p.type == ParamType::OutPath) {
        std::error_code ec;
        h.field(std::filesystem::absolute(d.path_sequences ? pr.out_path_pattern(p.name) : pr.out_path(p.name), ec)
                    .string());
      }
    }
    if (d.frame_dependent || has_frame_pattern(d, params[i])) h.field("frame").u64(static_cast<uint64_t>(o.frame));
    for (const auto& in : d.inputs) {
      h.field(in.name);
      auto it = node.inputs.find(in.name);
      if (it == node.inputs.end()) {
        h.field("-");
      } else {
        h.key(key[index.at(it->second.node)]).field(it->second.output);
      }
    }
    return h.finish();
  }
};

static bool files_exist(const CacheEntry& e) {
  std::error_code ec;
  for (const auto& f : e.files)
    if (!std::filesystem::exists(f, ec)) return false;
  return true;
}

void Engine::evaluate_node(Run& run, size_t i) {
  if (run.result[i]) return;
  const Node& node = run.g.nodes[i];
  const NodeDesc& d = *run.desc[i];
  const Key128& k = run.key[i];
  Observer* obs = run.o.observer;
  if (run.o.cancel && run.o.cancel->cancelled()) throw Error(ErrorKind::Cancelled, "cancelled", {node.id});

  if (memory_) {
    if (auto hit = memory_->lookup(k); hit && (!d.side_effect || files_exist(*hit))) {
      run.result[i] = hit;
      run.report[i].status = "cached";
      if (obs) obs->node_finished(node.id, node.type, "cached", 0);
      return;
    }
  }
  if (disk_ && d.disk_cacheable && !d.side_effect) {
    std::string problem;
    auto t0 = Clock::now();
    if (auto hit = disk_->load(k, &problem)) {
      run.result[i] = hit;
      run.report[i] = NodeReport{node.id, node.type, "cached", ms_since(t0), Json::object()};
      if (memory_) memory_->insert(k, hit);
      if (obs) obs->node_finished(node.id, node.type, "cached", run.report[i].ms);
      return;
    }
    if (!problem.empty() && obs) obs->warning(problem);
  }

  // Inputs first. Recursion depth is bounded by the graph's longest path.
  for (const auto& [port, c] : node.inputs) evaluate_node(run, run.index.at(c.node));

  EvalContext ctx(node.id, d, run.params[i], run.o.frame, run.o.base_dir, run.o.output_dir);
  for (const auto& [port, c] : node.inputs) {
    const Value* v = run.result[run.index.at(c.node)]->find(c.output);
    if (!v) throw_eval("node '" + c.node + "' produced no output '" + c.output + "'", {c.node});
    ctx.inputs_[port] = *v;
  }
  ctx.streamable_ = run.streamable[i];
  ctx.observer_ = obs;
  ctx.cancel_ = run.o.cancel;
  ctx.env_ = run.o.env;
  ctx.document_ = run.o.document;

  if (obs) obs->node_started(node.id, node.type);
  auto t0 = Clock::now();
  ++executions_;
  try {
    d.evaluate(ctx);
  } catch (const Error& e) {
    if (obs) obs->node_failed(node.id, e.what());
    if (e.kind() == ErrorKind::Cancelled) throw;
    std::string msg = e.what();
    if (msg.find("node '" + node.id + "'") == std::string::npos) msg = ctx.who() + ": " + msg;
    auto ids = e.node_ids();
    if (ids.empty()) ids.push_back(node.id);
    // A node that could not read its input file reports InvalidInput (exit 3); everything else is a
    // failure during evaluation (exit 4).
    throw Error(e.kind() == ErrorKind::InvalidInput ? ErrorKind::InvalidInput : ErrorKind::Evaluation, msg, ids);
  } catch (const std::exception& e) {
    if (obs) obs->node_failed(node.id, e.what());
    throw Error(ErrorKind::Evaluation, ctx.who() + ": " + e.what(), {node.id});
  }
  // The node may have uploaded or downloaded its inputs: keep the cache's host/device accounting true.
  if (memory_)
    for (const auto& [port, c] : node.inputs) memory_->remeasure(run.key[run.index.at(c.node)]);
  for (const auto& out : d.outputs) {
    bool found = false;
    for (const auto& [n, v] : ctx.outputs_) found |= (n == out.name);
    if (!found) throw_eval(ctx.who() + " did not produce its output '" + out.name + "'", {node.id});
  }
  bool transient = false;
  for (const auto& [n, v] : ctx.outputs_) {
    if (!v || !v->transient()) continue;
    if (!ctx.may_stream(n)) throw_eval(ctx.who() + " streamed its output '" + n + "' where a value is needed", {node.id});
    transient = true;
  }
  if (transient) ctx.info_["streamed"] = true;
  auto entry = std::make_shared<CacheEntry>();
  entry->outputs = std::move(ctx.outputs_);
  entry->files = std::move(ctx.files_);
  run.result[i] = entry;
  run.report[i] = NodeReport{node.id, node.type, "executed", ms_since(t0), std::move(ctx.info_)};
  // A transient value is a promise of work to be done once, by its consumer: never cached.
  if (memory_ && !transient) memory_->insert(k, entry);
  if (disk_ && d.disk_cacheable && !d.side_effect && !transient) {
    std::string problem;
    if (!disk_->store(k, *entry, &problem) && !problem.empty() && obs) obs->warning(problem);
  }
  if (obs) obs->node_finished(node.id, node.type, "executed", run.report[i].ms);
}

std::vector<std::string> default_targets(const Graph& g) {
  const NodeRegistry& reg = NodeRegistry::instance();
  std::vector<std::string> t;
  for (const auto& n : g.nodes)
    if (const NodeDesc* d = reg.find(n.type); d && d->side_effect) t.push_back(n.id);
  if (!t.empty()) return t;
  std::set<std::string_view> consumed;
  for (const auto& n : g.nodes)
    for (const auto& [p, c] : n.inputs) consumed.insert(c.node);
  for (const auto& n : g.nodes)
    if (!consumed.count(n.id)) t.push_back(n.id);
  return t;
}

RenderReport Engine::render(const Graph& g, const RenderOptions& o) {
  auto t0 = Clock::now();
  Run run(g, o);
  const auto targets = o.targets.empty() ? default_targets(g) : o.targets;
  run.prepare(targets);
  const LendCache lend(o.env, memory_);
  for (const auto& t : targets) evaluate_node(run, run.index.at(t));
  RenderReport r;
  lend.report(r);
  for (size_t i : run.order) {
    r.nodes.push_back(run.report[i]);
    (run.report[i].status == "executed" ? r.executed : r.cached)++;
    if (run.result[i])
      for (const auto& f : run.result[i]->files) r.outputs.push_back(f);
  }
  r.total_ms = ms_since(t0);
  return r;
}

Value Engine::evaluate(const Graph& g, const std::string& node_id, const std::string& output, const RenderOptions& o,
                       RenderReport* report) {
  auto t0 = Clock::now();
  Run run(g, o);
  run.prepare({node_id});
  const size_t i = run.index.at(node_id);
  if (!run.desc[i]->output(output)) throw_invalid("node '" + node_id + "' has no output '" + output + "'", {node_id});
  const LendCache lend(o.env, memory_);
  evaluate_node(run, i);
  if (report) {
    lend.report(*report);
    for (size_t j : run.order) {
      report->nodes.push_back(run.report[j]);
      (run.report[j].status == "executed" ? report->executed : report->cached)++;
    }
    report->total_ms = ms_since(t0);
  }
  return *run.result[i]->find(output);
}

std::vector<std::pair<std::string, Key128>> Engine::keys(const Graph& g, const RenderOptions& o) {
  Run run(g, o);
  run.prepare(o.targets.empty() ? default_targets(g) : o.targets);
  std::vector<std::pair<std::string, Key128>> out;
  for (size_t i : run.order) out.emplace_back(g.nodes[i].id, run.key[i]);
  return out;
}

std::vector<PlanRow> Engine::plan(const Graph& g, const RenderOptions& o) {
  Run run(g, o);
  run.prepare(o.targets.empty() ? default_targets(g) : o.targets);
  std::vector<std::map<std::string, PlanInfo>> infos(g.nodes.size());
  std::vector<PlanRow> rows;
  for (size_t i : run.order) {
    const Node& node = g.nodes[i];
    const NodeDesc& d = *run.desc[i];
    PlanContext ctx(node.id, d, run.params[i], o.frame, o.base_dir, o.output_dir);
    ctx.budgets_ = o.plan_budgets;
    for (const auto& [port, c] : node.inputs) {
      auto& up = infos[run.index.at(c.node)];
      auto it = up.find(c.output);
      ctx.inputs_[port] = it == up.end() ? nullptr : &it->second;
    }
    if (d.plan) {
      try {
        d.plan(ctx);
      } catch (const Error& e) {
        // Named as the run names it: a message that does not say which node gets the node's name in front.
        std::string msg = e.what();
        if (msg.find("node '" + node.id + "'") == std::string::npos) msg = ctx.who() + ": " + msg;
        auto ids = e.node_ids();
        if (ids.empty()) ids.push_back(node.id);
        throw Error(e.kind() == ErrorKind::Evaluation ? ErrorKind::InvalidInput : e.kind(), msg, ids);
      } catch (const std::exception& e) {
        throw_invalid(ctx.who() + ": " + e.what(), {node.id});
      }
    }
    PlanRow row{node.id, node.type, {}};
    for (const auto& out : d.outputs) {
      auto it = ctx.outputs_.find(out.name);
      PlanInfo info = it == ctx.outputs_.end() ? PlanInfo{} : it->second;
      infos[i][out.name] = info;
      row.outputs.emplace_back(out.name, std::move(info));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace lattice
