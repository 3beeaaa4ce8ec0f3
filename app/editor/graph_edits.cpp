#include "app/editor/graph_edits.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>

namespace lattice::editor {

std::optional<std::string> connection_problem(const Graph& g, const std::string& from, const std::string& out,
                                              const std::string& to, const std::string& in,
                                              const NodeRegistry& reg) {
  const Node* a = g.find(from);
  const Node* b = g.find(to);
  if (!a) return "no node '" + from + "'";
  if (!b) return "no node '" + to + "'";
  const NodeDesc* da = reg.find(a->type);
  const NodeDesc* db = reg.find(b->type);
  if (!da) return "node '" + from + "' has unknown type '" + a->type + "'";
  if (!db) return "node '" + to + "' has unknown type '" + b->type + "'";
  const PortDesc* po = da->output(out);
  const PortDesc* pi = db->input(in);
  if (!po) return "node '" + from + "' (" + a->type + ") has no output '" + out + "'";
  if (!pi) return "node '" + to + "' (" + b->type + ") has no input '" + in + "'";
  if (po->type != pi->type)
    return "cannot connect " + std::string(port_type_name(po->type)) + " output '" + from + "." + out + "' to " +
           std::string(port_type_name(pi->type)) + " input '" + to + "." + in + "'";
  if (depends_on(g, from, to)) return "connecting '" + from + "' to '" + to + "' would create a cycle";
  return std::nullopt;
}

bool depends_on(const Graph& g, const std::string& node, const std::string& ancestor) {
  std::set<std::string> seen;
  std::vector<std::string> stack{node};
  while (!stack.empty()) {
    std::string id = std::move(stack.back());
    stack.pop_back();
    if (id == ancestor) return true;
    if (!seen.insert(id).second) continue;
    if (const Node* n = g.find(id))
      for (const auto& [port, c] : n->inputs) stack.push_back(c.node);
  }
  return false;
}

std::set<std::string> downstream(const Graph& g, const std::set<std::string>& ids) {
  std::set<std::string> out = ids;
  bool grew = true;
  while (grew) {
    grew = false;
    for (const auto& n : g.nodes) {
      if (out.count(n.id)) continue;
      for (const auto& [port, c] : n.inputs)
        if (out.count(c.node)) {
          out.insert(n.id);
          grew = true;
          break;
        }
    }
  }
  return out;
}

std::string unique_id(const Graph& g, const std::string& type, const std::set<std::string>& taken) {
  std::string base = type.substr(type.rfind('.') == std::string::npos ? 0 : type.rfind('.') + 1);
  base.erase(std::remove_if(base.begin(), base.end(),
                            [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'); }),
             base.end());
  if (base.empty()) base = "node";
  if (base.size() > 48) base.resize(48);
  for (int i = 1;; ++i) {
    std::string id = base + std::to_string(i);
    if (!g.find(id) && !taken.count(id)) return id;
  }
}

Graph extract(const Graph& g, const std::vector<std::string>& ids) {
  const std::set<std::string> keep(ids.begin(), ids.end());
  Graph part;
  for (const auto& n : g.nodes)
    if (keep.count(n.id)) part.nodes.push_back(n);
  for (auto& n : part.nodes)
    std::erase_if(n.inputs, [&](const auto& kv) { return !keep.count(kv.second.node); });
  return part;
}

std::vector<std::string> insert_copies(Graph& g, const Graph& part, double dx, double dy, bool keep_outside) {
  std::map<std::string, std::string> rename;
  std::set<std::string> taken;
  for (const auto& n : part.nodes) {
    std::string id = unique_id(g, n.type, taken);
    taken.insert(id);
    rename[n.id] = id;
  }
  std::vector<std::string> added;
  for (const auto& src : part.nodes) {
    Node n = src;
    n.id = rename[src.id];
    std::map<std::string, Connection> inputs;
    for (const auto& [port, c] : src.inputs) {
      if (auto it = rename.find(c.node); it != rename.end()) inputs[port] = {it->second, c.output};
      else if (keep_outside && g.find(c.node)) inputs[port] = c;
    }
    n.inputs = std::move(inputs);
    auto pos = node_position(n).value_or(std::pair{0.0, 0.0});
    set_node_position(n, pos.first + dx, pos.second + dy);
    added.push_back(n.id);
    g.nodes.push_back(std::move(n));
  }
  return added;
}

std::optional<std::pair<double, double>> node_position(const Node& n) {
  if (!n.ui.is_object()) return std::nullopt;
  auto x = n.ui.find("x");
  auto y = n.ui.find("y");
  if (x == n.ui.end() || y == n.ui.end() || !x->is_number() || !y->is_number()) return std::nullopt;
  return std::pair{x->get<double>(), y->get<double>()};
}

void set_node_position(Node& n, double x, double y) {
  if (!n.ui.is_object()) n.ui = Json::object();
  // Whole canvas units keep files stable and diffs small.
  n.ui["x"] = std::round(x);
  n.ui["y"] = std::round(y);
}

void place_unpositioned(Graph& g) {
  std::map<std::string, int> depth;
  std::function<int(const std::string&, int)> depth_of = [&](const std::string& id, int guard) -> int {
    if (auto it = depth.find(id); it != depth.end()) return it->second;
    const Node* n = g.find(id);
    int d = 0;
    if (n && guard < 1000)
      for (const auto& [port, c] : n->inputs) d = std::max(d, depth_of(c.node, guard + 1) + 1);
    depth[id] = d;
    return d;
  };
  std::map<int, int> rows;
  for (auto& n : g.nodes) {
    const int d = depth_of(n.id, 0);
    const int r = rows[d]++;
    if (!node_position(n)) set_node_position(n, 40 + d * 240, 40 + r * 160);
  }
}

std::set<std::string> runnable_nodes(const Graph& g, std::map<std::string, std::string>* problems,
                                     const NodeRegistry& reg) {
  std::map<std::string, std::string> bad;
  for (const auto& p : validate(g, reg))
    for (const auto& id : p.node_ids) bad.emplace(id, p.message);
  std::set<std::string> ok;
  for (const auto& n : g.nodes)
    if (!bad.count(n.id)) ok.insert(n.id);
  // Drop nodes fed by a dropped node until nothing changes (a cycle's nodes are already in `bad`).
  bool shrank = true;
  while (shrank) {
    shrank = false;
    for (const auto& n : g.nodes) {
      if (!ok.count(n.id)) continue;
      for (const auto& [port, c] : n.inputs)
        if (!ok.count(c.node)) {
          ok.erase(n.id);
          bad.emplace(n.id, "input '" + port + "' comes from '" + c.node + "', which cannot run");
          shrank = true;
          break;
        }
    }
  }
  if (problems) *problems = std::move(bad);
  return ok;
}

Graph restrict_to(const Graph& g, const std::set<std::string>& keep) {
  Graph out;
  out.extra = g.extra;
  for (const auto& n : g.nodes)
    if (keep.count(n.id)) out.nodes.push_back(n);
  for (auto& n : out.nodes) std::erase_if(n.inputs, [&](const auto& kv) { return !keep.count(kv.second.node); });
  return out;
}

}  // namespace lattice::editor
