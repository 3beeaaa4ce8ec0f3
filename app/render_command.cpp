#include "app/render_command.h"

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "app/export_job.h"
#include "app/hooks.h"
#include "app/param_override.h"
#include "app/serve/server.h"
#include "core/atomic_file.h"
#include "core/block_stream_plan.h"
#include "core/document.h"
#include "core/engine.h"

namespace lattice::app {

namespace fs = std::filesystem;

namespace {

CancelToken g_cancel;
extern "C" void on_sigint(int) { g_cancel.cancel(); }

struct Usage : Error {
  explicit Usage(const std::string& m) : Error(ErrorKind::Usage, m) {}
};

struct Options {
  std::string command;  // render, list-nodes, devices, help, version, run-fixture
  std::string file;
  std::vector<std::pair<std::string, std::string>> sets;  // "id.param", value text
  std::string output_dir = ".";
  std::optional<std::pair<int64_t, int64_t>> frames;
  std::string report;
  std::string cache_dir;
  bool dry_run = false;
  bool json = false;
  std::string out;  // --out for --run-fixture
  std::vector<std::string> targets;
  size_t cache_memory_mb = 2048;
  std::vector<double> vram_budgets_gib;  // --vram-budget
};

}  // namespace

std::pair<int64_t, int64_t> parse_frames(const std::string& s) {
  auto dash = s.find('-', 1);
  try {
    size_t used = 0;
    if (dash == std::string::npos) {
      int64_t a = std::stoll(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
      return {a, a};
    }
    int64_t a = std::stoll(s.substr(0, dash), &used);
    if (used != dash) throw std::invalid_argument(s);
    const std::string rest = s.substr(dash + 1);
    int64_t b = std::stoll(rest, &used);
    if (used != rest.size() || b < a) throw std::invalid_argument(s);
    return {a, b};
  } catch (const std::exception&) {
    throw Usage("--frames expects A-B with A <= B (e.g. 1-24), got '" + s + "'");
  }
}

std::pair<std::string, std::string> parse_set(const std::string& s) {
  auto eq = s.find('=');
  auto dot = s.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq)
    throw Usage("--set expects NODE_ID.PARAM=VALUE, got '" + s + "'");
  return {s.substr(0, eq), s.substr(eq + 1)};
}

namespace {

Options parse(const std::vector<std::string>& args) {
  Options o;
  auto value = [&](size_t& i) -> const std::string& {
    if (i + 1 >= args.size()) throw Usage(args[i] + " needs a value");
    return args[++i];
  };
  auto set_command = [&](const std::string& c) {
    if (!o.command.empty() && o.command != c) throw Usage("--" + c + " cannot be combined with --" + o.command);
    o.command = c;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--render") {
      set_command("render");
      o.file = value(i);
    } else if (a == "--run-fixture") {
      set_command("run-fixture");
      o.file = value(i);
    } else if (a == "--list-nodes") {
      set_command("list-nodes");
    } else if (a == "--devices") {
      set_command("devices");
    } else if (a == "--help" || a == "-h") {
      set_command("help");
    } else if (a == "--version") {
      set_command("version");
    } else if (a == "--set") {
      o.sets.push_back(parse_set(value(i)));
    } else if (a == "--output-dir") {
      o.output_dir = value(i);
    } else if (a == "--frames") {
      o.frames = parse_frames(value(i));
    } else if (a == "--report") {
      o.report = value(i);
    } else if (a == "--cache-dir") {
      o.cache_dir = value(i);
    } else if (a == "--cache-memory") {
      try {
        o.cache_memory_mb = std::stoull(value(i));
      } catch (const std::exception&) {
        throw Usage("--cache-memory expects a size in MiB");
      }
    } else if (a == "--vram-budget") {
      try {
        const double gib = std::stod(value(i));
        if (!(gib > 0)) throw std::invalid_argument("not positive");
        o.vram_budgets_gib.push_back(gib);
      } catch (const std::exception&) {
        throw Usage("--vram-budget expects a size in GiB, e.g. 12");
      }
    } else if (a == "--target") {
      o.targets.push_back(value(i));
    } else if (a == "--dry-run") {
      o.dry_run = true;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--out") {
      o.out = value(i);
    } else {
      throw Usage("unknown argument '" + a + "' (see lattice --help)");
    }
  }
  if (o.command.empty()) throw Usage("nothing to do (see lattice --help)");
  return o;
}

class ProgressPrinter : public Observer {
 public:
  void node_step(const std::string& id, int step, int total) override {
    std::printf("lattice: %-20s step %d/%d\n", id.c_str(), step, total);
    std::fflush(stdout);
  }
  void node_finished(const std::string& id, const std::string& type, const std::string& status, double ms) override {
    std::printf("lattice: %-20s %-22s %s %.1f ms\n", id.c_str(), type.c_str(), status.c_str(), ms);
    std::fflush(stdout);
  }
  void warning(const std::string& message) override { std::fprintf(stderr, "lattice: warning: %s\n", message.c_str()); }
};

}  // namespace

Graph load_project(const std::string& file, Json* document) {
  const fs::path p(file);
  std::error_code ec;
  if (!fs::exists(p, ec)) throw_invalid(file + ": no such file");
  const std::string ext = p.extension().string();
  Graph g;
  if (ext == ".lattice" || ext == ".json") {
    g = load_graph_file(p);
  } else {
    // An image written by Lattice carries its graph in its metadata.
    auto text = hooks().read_embedded_graph ? hooks().read_embedded_graph(p) : std::nullopt;
    if (!text) throw_invalid(file + ": neither a .lattice file nor an image with an embedded Lattice graph");
    g = parse_graph(*text, file + " (embedded graph)");
  }
  *document = graph_to_json(g);
  return g;
}

void apply_sets(Graph& g, const std::vector<std::pair<std::string, std::string>>& sets) {
  for (const auto& [target, text] : sets) set_param_text(g, target, text, "--set " + target);
}

namespace {

Json plan_to_json(const std::vector<PlanRow>& rows) {
  Json a = Json::array();
  for (const auto& r : rows) {
    Json outs = Json::array();
    for (const auto& [name, info] : r.outputs) {
      outs.push_back({{"name", name},
                      {"shape", info.shape.empty() ? "unknown" : info.shape},
                      {"flops", info.flops},
                      {"weight_bytes", info.weight_bytes},
                      {"activation_bytes", info.activation_bytes}});
      // A DiT loader's bytes with fp8 matrices: what the "store its weights as fp8" hint says.
      if (info.meta.contains("fp8_weight_bytes")) outs.back()["fp8_weight_bytes"] = info.meta["fp8_weight_bytes"];
      // A sampler's lower-memory way (wan.sample's CFG in turn) and its activations.
      if (info.meta.contains("low_memory")) outs.back()["low_memory"] = info.meta["low_memory"];
      // A sampler's one step (FLOPs, weights read, activation traffic); a pass that decides by the budget.
      if (info.meta.contains("per_step")) outs.back()["per_step"] = info.meta["per_step"];
      if (info.meta.contains("by_budget")) outs.back()["by_budget"] = info.meta["by_budget"];
    }
    a.push_back({{"id", r.id}, {"type", r.type}, {"outputs", std::move(outs)}});
  }
  return a;
}

std::string human_bytes(double b);

/// The sequential strategy's memory plan. Each computing node needs on the device the weights of the models
/// it uses (the loaders upstream of it along model wires: DiT, VAE, text encoder, upsampler, LoRA) plus its
/// own activations; other models are released (text encoders after encoding, the DiT after sampling). The
/// peak is the largest such sum over the nodes. Where a node's need exceeds a budget, its largest model
/// streams its blocks: the part the budget leaves stays resident, the rest is uploaded on every use.
Json memory_plan(const Graph& g, const std::vector<PlanRow>& rows, const std::vector<double>& budgets_gib) {
  std::map<std::string, const PlanRow*> by_id;
  for (const auto& r : rows) by_id[r.id] = &r;
  auto weights_of = [&](const std::string& id) {
    uint64_t w = 0;
    if (auto it = by_id.find(id); it != by_id.end())
      for (const auto& [name, info] : it->second->outputs) w += info.weight_bytes;
    return w;
  };
  auto block_bytes_of = [&](const std::string& id) {
    std::vector<uint64_t> b;
    if (auto it = by_id.find(id); it != by_id.end())
      for (const auto& [name, info] : it->second->outputs)
        if (info.meta.contains("block_bytes"))
          for (const auto& x : info.meta["block_bytes"]) b.push_back(x.get<uint64_t>());
    return b;
  };
  // The --dry-run hint for a streaming model: its device bytes with fp8 matrices (meta "fp8_weight_bytes", from
  // its loader), when that is less than it has now; empty otherwise.
  auto fp8_hint = [&](const std::string& id, double bytes) {
    if (auto it = by_id.find(id); it != by_id.end())
      for (const auto& [name, info] : it->second->outputs)
        if (info.meta.contains("fp8_weight_bytes"))
          if (const double f = info.meta["fp8_weight_bytes"].get<double>(); f > 0 && f < bytes)
            return " (or store its weights as fp8: " + human_bytes(f) + ")";
    return std::string();
  };
  auto is_model = [](PortType t) {
    return t == PortType::DiT || t == PortType::VAE || t == PortType::TextEncoder || t == PortType::Upsampler ||
           t == PortType::LoRA || t == PortType::ImageEncoder;
  };
  // The loaders a node uses: walk up model-typed wires (through pass-through nodes such as lora.apply).
  auto models_used = [&](const Node& start) {
    std::map<std::string, uint64_t> used;
    std::vector<const Node*> todo{&start};
    std::set<std::string> seen;
    while (!todo.empty()) {
      const Node* n = todo.back();
      todo.pop_back();
      for (const auto& [port, c] : n->inputs) {
        const Node* up = g.find(c.node);
        const NodeDesc* d = up ? NodeRegistry::instance().find(up->type) : nullptr;
        if (!d || !seen.insert(c.node).second) continue;
        for (const auto& out : d->outputs)
          if (out.name == c.output && is_model(out.type)) {
            if (const uint64_t w = weights_of(c.node)) used[c.node] = w;
            todo.push_back(up);
          }
      }
    }
    return used;
  };
  double all_weights = 0, largest_act_any = 0;
  for (const auto& r : rows)
    for (const auto& [name, info] : r.outputs) {
      all_weights += static_cast<double>(info.weight_bytes);
      largest_act_any = std::max(largest_act_any, static_cast<double>(info.activation_bytes));
    }
  struct Need {
    std::string node, model;
    double weights = 0, largest_model = 0, act = 0;
    // A node that can run in less memory where its model cannot stream otherwise (PlanInfo meta "low_memory":
    // {"activation_bytes", "how"}; wan.sample's CFG in turn): those activations and what it then does.
    double low_act = 0;
    std::string low_how;
    // A node whose run decides by the budget (PlanInfo meta "by_budget": vae.decode's automatic tiles): its
    // activations at each budget of `budgets_gib`, in order; act is the largest.
    std::vector<double> act_at;
    double total() const { return weights + act; }
  };
  std::vector<Need> needs;
  for (const auto& r : rows) {
    const Node* n = g.find(r.id);
    if (!n) continue;
    Need need{r.id, "", 0, 0, 0};
    for (const auto& [name, info] : r.outputs) {
      need.act += static_cast<double>(info.activation_bytes);
      if (info.meta.contains("by_budget") && info.meta["by_budget"].size() == budgets_gib.size())
        for (const auto& at : info.meta["by_budget"]) need.act_at.push_back(at["activation_bytes"].get<double>());
      if (info.meta.contains("low_memory")) {
        need.low_act = info.meta["low_memory"]["activation_bytes"].get<double>();
        need.low_how = info.meta["low_memory"]["how"].get<std::string>();
      }
    }
    for (const auto& [id, w] : models_used(*n)) {
      need.weights += static_cast<double>(w);
      if (static_cast<double>(w) > need.largest_model) need.largest_model = static_cast<double>(w), need.model = id;
    }
    if (need.total() > 0) needs.push_back(need);
  }
  Need peak;
  for (const auto& n : needs)
    if (n.total() > peak.total()) peak = n;
  Json out = {{"all_resident_bytes", all_weights + largest_act_any},
              {"sequential_peak_bytes", peak.total()},
              {"peak_node", peak.node},
              {"largest_model", peak.model},
              {"budgets", Json::array()}};
  std::printf("memory (sequential strategy): peak %s at '%s' = models %s (largest '%s') + activations %s; all models resident: %s\n",
              human_bytes(peak.total()).c_str(), peak.node.c_str(), human_bytes(peak.weights).c_str(), peak.model.c_str(),
              human_bytes(peak.act).c_str(), human_bytes(all_weights + largest_act_any).c_str());
  for (size_t k = 0; k < budgets_gib.size(); ++k) {
    const double budget = budgets_gib[k] * 1073741824.0;
    Json b = {{"budget_bytes", budget}};
    std::vector<Need> at = needs;  // the needs under this budget
    for (Need& n : at)
      if (!n.act_at.empty()) n.act = n.act_at[k];
    // The node that needs the most beyond the budget decides: it streams its largest model.
    const Need* worst = nullptr;
    double peak_here = 0;
    for (const auto& n : at) {
      peak_here = std::max(peak_here, n.total());
      if (n.total() > budget && (!worst || n.total() - budget > worst->total() - budget)) worst = &n;
    }
    if (!worst) {
      b["fits"] = true;
      b["streamed_bytes_per_use"] = 0;
      std::printf("  budget %s: fits; peak %s\n", human_bytes(budget).c_str(), human_bytes(peak_here).c_str());
    } else if (const std::vector<uint64_t> blocks = block_bytes_of(worst->model); !blocks.empty()) {
      // A model that declares its blocks (meta "block_bytes") streams as the run will stream it: the same
      // arithmetic (core/block_stream_plan.h) over what the budget leaves beside its other weights.
      uint64_t in_blocks = 0;
      for (uint64_t x : blocks) in_blocks += x;
      const double other = (worst->weights - worst->largest_model) + std::max(0.0, worst->largest_model - static_cast<double>(in_blocks));
      double fixed = worst->act + other;
      BlockStreamPlan sp = plan_block_streaming(blocks, budget > fixed ? static_cast<uint64_t>(budget - fixed) : 0);
      std::string how;  // the node's lower-memory way, where the run takes it (as the run decides: core/block_stream_plan.h)
      if (!sp.fits && worst->low_act > 0) {
        const double low = worst->low_act + other;
        const BlockStreamPlan lp = plan_block_streaming(blocks, budget > low ? static_cast<uint64_t>(budget - low) : 0);
        if (lp.fits) {
          sp = lp;
          fixed = low;
          how = worst->low_how;
          b["fallback"] = how;
          b["activation_bytes"] = worst->low_act;
        }
      }
      b["fits"] = false;
      b["node"] = worst->node;
      b["streaming_model"] = worst->model;
      if (!how.empty())
        std::printf("  budget %s: '%s' runs %s (its batched forward does not fit, even streaming)\n",
                    human_bytes(budget).c_str(), worst->node.c_str(), how.c_str());
      if (!sp.fits) {
        std::printf("  budget %s: too small for '%s': %s of activations and other weights plus one block of '%s' (%s)\n",
                    human_bytes(budget).c_str(), worst->node.c_str(), human_bytes(fixed).c_str(), worst->model.c_str(),
                    human_bytes(static_cast<double>(sp.slot_bytes)).c_str());
      } else {
        b["resident_blocks"] = sp.resident;
        b["blocks"] = sp.blocks;
        b["slots"] = sp.slots;
        b["slot_bytes"] = sp.slot_bytes;
        b["resident_weight_bytes"] = worst->largest_model - static_cast<double>(sp.streamed_bytes);
        b["streamed_bytes_per_use"] = sp.streamed_bytes;
        b["needed_bytes"] = fixed + static_cast<double>(sp.device_bytes());  // the least budget with this plan
        std::printf("  budget %s: '%s' streams while '%s' runs: %d of %d blocks stay resident (%s of weights), %s is uploaded"
                    " block by block on every use through %d slot%s of %s%s\n",
                    human_bytes(budget).c_str(), worst->model.c_str(), worst->node.c_str(), sp.resident, sp.blocks,
                    human_bytes(worst->largest_model - static_cast<double>(sp.streamed_bytes)).c_str(),
                    human_bytes(static_cast<double>(sp.streamed_bytes)).c_str(), sp.slots, sp.slots == 1 ? "" : "s",
                    human_bytes(static_cast<double>(sp.slot_bytes)).c_str(),
                    fp8_hint(worst->model, worst->largest_model).c_str());
      }
    } else if (worst->act + (worst->weights - worst->largest_model) < budget) {
      const double resident = budget - worst->act - (worst->weights - worst->largest_model);
      const double streamed = worst->largest_model - resident;
      b["fits"] = false;
      b["node"] = worst->node;
      b["streaming_model"] = worst->model;
      b["resident_weight_bytes"] = resident;
      b["streamed_bytes_per_use"] = streamed;
      std::printf("  budget %s: '%s' streams while '%s' runs: %s stays resident, %s is uploaded block by block on every use"
                  "%s\n",
                  human_bytes(budget).c_str(), worst->model.c_str(), worst->node.c_str(), human_bytes(resident).c_str(),
                  human_bytes(streamed).c_str(), fp8_hint(worst->model, worst->largest_model).c_str());
    } else {
      b["fits"] = false;
      b["node"] = worst->node;
      std::printf("  budget %s: too small for '%s' (activations %s)\n", human_bytes(budget).c_str(), worst->node.c_str(),
                  human_bytes(worst->act).c_str());
    }
    out["budgets"].push_back(b);
  }
  return out;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

int render(const Options& o) {
  Json document;
  Graph g = load_project(o.file, &document);
  apply_sets(g, o.sets);
  document = graph_to_json(g);

  RenderOptions ro;
  ro.targets = o.targets;
  ro.base_dir = fs::absolute(fs::path(o.file)).parent_path();
  ro.output_dir = fs::absolute(o.output_dir);
  ro.document = &document;
  ProgressPrinter printer;
  ro.observer = &printer;
  ro.cancel = &g_cancel;
  // The device budget for rendering: the GPU allocator reads it when the device is first used.
  if (!o.dry_run && !o.vram_budgets_gib.empty()) {
    if (o.vram_budgets_gib.size() > 1) throw Usage("--vram-budget can be given once when rendering");
    char mib[64];  // to the byte, as the dry run plans with it
    std::snprintf(mib, sizeof mib, "%.17g", o.vram_budgets_gib[0] * 1024);
    setenv("LATTICE_GPU_BUDGET_MB", mib, 1);
  }
  Environment env;
  if (hooks().setup_environment) hooks().setup_environment(env, o.dry_run);
  ro.env = &env;

  MemoryCache memory(o.cache_memory_mb << 20);
  std::unique_ptr<DiskCache> disk;
  if (!o.cache_dir.empty()) disk = std::make_unique<DiskCache>(o.cache_dir);
  Engine engine(&memory, disk.get());

  if (o.dry_run) {
    const std::vector<double> budgets = o.vram_budgets_gib.empty() ? std::vector<double>{12, 24} : o.vram_budgets_gib;
    for (double gib : budgets) ro.plan_budgets.push_back(static_cast<uint64_t>(gib * 1073741824.0));
    // With --frames, the plan of the first frame; the last one is planned too, so that a frame-dependent problem
    // (video.frame past the video's end) is refused before a render would reach it.
    if (o.frames) {
      ro.frame = o.frames->second;
      engine.plan(g, ro);
      ro.frame = o.frames->first;
    }
    auto rows = engine.plan(g, ro);
    double flops = 0, weights = 0, acts = 0;
    std::printf("plan for %s (%zu nodes):\n", o.file.c_str(), rows.size());
    for (const auto& r : rows)
      for (const auto& [name, info] : r.outputs) {
        std::printf("  %-20s %-22s %-8s %-36s %10.3g FLOP  weights %-10s activations %s\n", r.id.c_str(),
                    r.type.c_str(), name.c_str(), info.shape.empty() ? "unknown" : info.shape.c_str(), info.flops,
                    human_bytes(static_cast<double>(info.weight_bytes)).c_str(),
                    human_bytes(static_cast<double>(info.activation_bytes)).c_str());
        flops += info.flops;
        weights += static_cast<double>(info.weight_bytes);
        acts += static_cast<double>(info.activation_bytes);
      }
    std::printf("total: %.4g FLOP, weights %s, activations %s\n", flops, human_bytes(weights).c_str(),
                human_bytes(acts).c_str());
    for (const auto& r : rows)
      for (const auto& [name, info] : r.outputs)
        if (info.meta.contains("per_step")) {
          const Json& st = info.meta["per_step"];
          std::printf("  %s: one step %.3g FLOP; reads its weights (%s) and %s of activations (products and attention, at "
                      "least); a streaming model also uploads what the budget line below says\n",
                      r.id.c_str(), st["flops"].get<double>(), human_bytes(st["weight_bytes"].get<double>()).c_str(),
                      human_bytes(st["activation_traffic_bytes"].get<double>()).c_str());
        }
    const Json memory = memory_plan(g, rows, budgets);
    if (!o.report.empty())
      write_file_atomic(o.report, Json{{"plan", plan_to_json(rows)}, {"total_flops", flops}, {"memory", memory}}.dump(2) + "\n");
    return 0;
  }

  std::error_code ec;
  fs::create_directories(ro.output_dir, ec);
  if (ec) throw_invalid("cannot create output folder " + ro.output_dir.string() + ": " + ec.message());

  std::signal(SIGINT, on_sigint);
  const int64_t first = o.frames ? o.frames->first : 0, last = o.frames ? o.frames->second : 0;
  Json nodes = Json::array();
  Json outputs = Json::array();
  double total_ms = 0;
  size_t spills = 0, spilled_bytes = 0;
  for (int64_t f = first; f <= last; ++f) {
    ro.frame = f;
    if (o.frames) std::printf("lattice: frame %lld\n", static_cast<long long>(f));
    RenderReport r = engine.render(g, ro);
    total_ms += r.total_ms;
    spills += r.spills;
    spilled_bytes += r.spilled_bytes;
    for (const auto& n : r.nodes) {
      Json j = {{"id", n.id}, {"type", n.type}, {"status", n.status}, {"ms", n.ms}};
      if (!n.info.empty()) j["info"] = n.info;
      if (o.frames) j["frame"] = f;
      nodes.push_back(std::move(j));
    }
    for (const auto& out : r.outputs) {
      std::printf("lattice: wrote %s\n", out.c_str());
      outputs.push_back(out);
    }
  }
  if (spills > 0)
    std::printf("lattice: device memory ran short: spilled %zu cached values (%s) to host memory\n", spills,
                human_bytes(static_cast<double>(spilled_bytes)).c_str());
  std::fflush(stdout);
  if (!o.report.empty()) {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    Json rep = {{"nodes", nodes},
                {"outputs", outputs},
                {"total_ms", total_ms},
                {"peak_host_bytes", static_cast<uint64_t>(ru.ru_maxrss) * 1024},
                {"peak_device_bytes", hooks().peak_device_bytes ? hooks().peak_device_bytes(env) : 0},
                {"device_spills", {{"values", spills}, {"bytes", spilled_bytes}}}};
    write_file_atomic(o.report, rep.dump(2) + "\n");
  }
  return 0;
}

}  // namespace

void print_help() {
  std::printf(
      "Lattice %s: a node-graph compositor for generative image and video models\n"
      "\n"
      "usage:\n"
      "  lattice [FILE.lattice]                 open the editor (on FILE if given)\n"
      "  lattice --render FILE [options]        render a .lattice file (or an image with an embedded graph)\n"
      "      --set NODE_ID.PARAM=VALUE          override a parameter (repeatable)\n"
      "      --output-dir DIR                   where relative output paths go (default: current folder)\n"
      "      --frames A-B                       render frames A to B ('#' in paths becomes the frame number)\n"
      "      --target NODE_ID                   render only what this node needs (repeatable)\n"
      "      --report REPORT.json               write per-node status and timings\n"
      "      --cache-dir DIR                    keep results on disk between runs\n"
      "      --cache-memory MIB                 in-memory cache budget (default 2048)\n"
      "      --dry-run                          validate and print the plan without computing\n"
      "      --vram-budget GIB                  device memory budget (with --dry-run: repeatable, default 12 and 24)\n"
      "  lattice --export-job KIND FILE --frames A-B -o OUT [options]\n"
      "                                         write a render-farm job that runs --render per chunk of frames;\n"
      "                                         KIND: openjd (Open Job Description template, YAML), opencue\n"
      "                                         (OpenCue job spec, XML) or cuecmd (one command per chunk)\n"
      "      --chunk N                          frames per task (default 1)\n"
      "      --output-dir DIR                   where the farm writes images (default: current folder)\n"
      "      --set NODE_ID.PARAM=VALUE          passed to every task (repeatable)\n"
      "      --lattice-bin PATH                 the lattice the farm runs (default: this executable)\n"
      "      --job-name NAME                    job name (default: the file's name)\n"
      "      --openjd-chunks extension|list     CHUNK[INT] with TASK_CHUNKING (default), or a fixed list\n"
      "      --show, --shot, --user, --service  OpenCue fields (default: testing, job name, $USER, shell)\n"
      "  lattice --run-fixture FIXTURE.safetensors --out OUT.safetensors\n"
      "                                         run a reference-fixture component; a fixture whose config,\n"
      "                                         weights, inputs and outputs disagree exits 3 naming them\n"
      "%s"
      "  lattice --list-nodes [--json]          print the node catalogue\n"
      "  lattice --devices                      list Vulkan devices and their features\n"
      "  lattice --help | --version\n"
      "\n"
      "exit codes: 0 success, 2 bad usage, 3 invalid graph or input file, 4 evaluation failure, 130 cancelled\n",
      LATTICE_VERSION, serve::serve_help());
}

bool is_headless(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a.rfind("--", 0) == 0 || a == "-h") return true;
  return false;
}

int run_headless(const std::vector<std::string>& args) {
  try {
    if (is_export_job(args)) return export_job(args);
    if (std::find(args.begin(), args.end(), "--serve") != args.end()) return serve::run_serve(args);
    Options o = parse(args);
    if (o.command == "help") {
      print_help();
      return 0;
    }
    if (o.command == "version") {
      std::printf("lattice %s\n", LATTICE_VERSION);
      return 0;
    }
    if (o.command == "list-nodes") {
      const Json cat = NodeRegistry::instance().catalogue();
      if (o.json) {
        std::printf("%s\n", cat.dump(2).c_str());
      } else {
        for (const auto& n : cat["nodes"])
          std::printf("%-28s %-14s %s\n", n["type"].get<std::string>().c_str(),
                      n["category"].get<std::string>().c_str(), n["description"].get<std::string>().c_str());
      }
      return 0;
    }
    if (o.command == "devices") {
      if (!hooks().list_devices) throw Error(ErrorKind::Evaluation, "this build has no GPU runtime");
      return hooks().list_devices(o.json);
    }
    if (o.command == "run-fixture") {
      if (o.out.empty()) throw Usage("--run-fixture needs --out OUT.safetensors");
      // Writing the result over the fixture would destroy the reference it is checked against: refuse any path to
      // the same file (a link, another spelling), before anything is read or written.
      std::error_code e1, e2, e3;
      const bool linked = std::filesystem::equivalent(o.file, o.out, e1);
      const auto in_path = std::filesystem::weakly_canonical(o.file, e2), out_path = std::filesystem::weakly_canonical(o.out, e3);
      if (linked || (!e2 && !e3 && in_path == out_path)) throw Usage("--out " + o.out + " is the fixture " + o.file + " itself; name another file");
      if (!hooks().run_fixture) throw_invalid("this build cannot run fixtures yet");
      return hooks().run_fixture(o.file, o.out);
    }
    return render(o);
  } catch (const Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "lattice: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    std::fprintf(stderr, "lattice: error: out of host memory\n");
    return 4;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "lattice: error: %s\n", e.what());
    return 4;
  }
}

}  // namespace lattice::app
