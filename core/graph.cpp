#include "core/graph.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>

#include "core/error.h"

namespace lattice {

Node* Graph::find(std::string_view id) {
  for (auto& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

const Node* Graph::find(std::string_view id) const {
  for (const auto& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

bool is_valid_node_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

namespace {
std::optional<std::string> check_param_type(const ParamDesc& p, const Json& v) {
  auto range = [&](double x) -> std::optional<std::string> {
    if (!std::isfinite(x)) return "must be a finite number";
    if (x < p.min || x > p.max) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "%g is outside the range [%g, %g]", x, p.min, p.max);
      return std::string(buf);
    }
    return std::nullopt;
  };
  switch (p.type) {
    case ParamType::Float:
      if (!v.is_number()) return "expected a number, got " + v.dump();
      return range(v.get<double>());
    case ParamType::Int:
      if (!v.is_number_integer()) {
        if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) return range(v.get<double>());
        return "expected an integer, got " + v.dump();
      }
      return range(static_cast<double>(v.get<int64_t>()));
    case ParamType::Seed:
      if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
        return "expected a non-negative integer seed, got " + v.dump();
      return std::nullopt;
    case ParamType::Bool:
      if (!v.is_boolean()) return "expected true or false, got " + v.dump();
      return std::nullopt;
    case ParamType::String:
    case ParamType::InPath:
    case ParamType::OutPath:
      if (!v.is_string()) return "expected a string, got " + v.dump();
      return std::nullopt;
    case ParamType::Choice:
      if (!v.is_string()) return "expected a string, got " + v.dump();
      if (std::find(p.choices.begin(), p.choices.end(), v.get<std::string>()) == p.choices.end()) {
        std::string all;
        for (const auto& c : p.choices) all += (all.empty() ? "" : ", ") + c;
        return "\"" + v.get<std::string>() + "\" is not one of: " + all;
      }
      return std::nullopt;
    case ParamType::Color:
      if (!v.is_array() || v.size() < 3 || v.size() > 4 ||
          !std::all_of(v.begin(), v.end(), [](const Json& x) { return x.is_number(); }))
        return "expected a colour [r, g, b] or [r, g, b, a], got " + v.dump();
      return std::nullopt;
  }
  return std::nullopt;
}
}  // namespace

std::optional<std::string> check_param_value(const ParamDesc& p, const Json& v) {
  if (auto err = check_param_type(p, v)) return err;
  return p.check ? p.check(v) : std::nullopt;
}

Json resolved_params(const Node& node, const NodeDesc& desc) {
  Json out = Json::object();
  for (const auto& p : desc.params) {
    auto it = node.params.find(p.name);
    const Json& v = it != node.params.end() ? *it : p.default_value;
    if (auto err = check_param_value(p, v))
      throw_invalid("node '" + node.id + "' (" + node.type + "): parameter '" + p.name + "': " + *err, {node.id});
    out[p.name] = v;
  }
  return out;
}

Json parse_param_text(const ParamDesc& p, std::string_view text) {
  auto fail = [&](const std::string& why) -> Json {
    throw Error(ErrorKind::Usage, "parameter '" + p.name + "': cannot use '" + std::string(text) + "': " + why);
  };
  Json v;
  switch (p.type) {
    case ParamType::Float: {
      double d = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
      if (ec != std::errc() || ptr != text.data() + text.size()) return fail("expected a number");
      v = d;
      break;
    }
    case ParamType::Int: {
      int64_t i = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
      if (ec != std::errc() || ptr != text.data() + text.size()) return fail("expected an integer");
      v = i;
      break;
    }
    case ParamType::Seed: {
      uint64_t i = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
      if (ec != std::errc() || ptr != text.data() + text.size()) return fail("expected a non-negative integer");
      v = i;
      break;
    }
    case ParamType::Bool:
      if (text == "true" || text == "1" || text == "on") v = true;
      else if (text == "false" || text == "0" || text == "off") v = false;
      else return fail("expected true or false");
      break;
    case ParamType::Color:
      try {
        v = Json::parse(text);
      } catch (const std::exception&) {
        return fail("expected a JSON array such as [1, 0.5, 0, 1]");
      }
      break;
    default:
      v = std::string(text);
  }
  if (auto err = check_param_value(p, v)) return fail(*err);
  return v;
}

std::vector<size_t> topological_order(const Graph& g) {
  std::map<std::string_view, size_t> index;
  for (size_t i = 0; i < g.nodes.size(); ++i) index.emplace(g.nodes[i].id, i);
  // 0 = unvisited, 1 = on the stack, 2 = done
  std::vector<int> state(g.nodes.size(), 0);
  std::vector<size_t> order, stack;
  order.reserve(g.nodes.size());
  std::function<void(size_t)> visit = [&](size_t i) {
    state[i] = 1;
    stack.push_back(i);
    for (const auto& [port, c] : g.nodes[i].inputs) {
      auto it = index.find(c.node);
      if (it == index.end()) continue;  // reported by validate()
      size_t j = it->second;
      if (state[j] == 1) {
        std::vector<std::string> cycle;
        auto from = std::find(stack.begin(), stack.end(), j);
        for (auto k = from; k != stack.end(); ++k) cycle.push_back(g.nodes[*k].id);
        std::string names;
        for (const auto& id : cycle) names += (names.empty() ? "" : " -> ") + id;
        throw_invalid("the graph has a cycle: " + names + " -> " + g.nodes[j].id, cycle);
      }
      if (state[j] == 0) visit(j);
    }
    stack.pop_back();
    state[i] = 2;
    order.push_back(i);
  };
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (state[i] == 0) visit(i);
  return order;
}

std::vector<Problem> validate(const Graph& g, const NodeRegistry& reg) {
  std::vector<Problem> problems;
  std::map<std::string_view, const Node*> ids;  // the first node of each id, as Graph::find gives it
  for (const auto& n : g.nodes) {
    if (!is_valid_node_id(n.id))
      problems.push_back({"node id '" + n.id + "' is not valid (1-64 characters of A-Z a-z 0-9 _ -)", {n.id}});
    if (!ids.emplace(n.id, &n).second) problems.push_back({"duplicate node id '" + n.id + "'", {n.id}});
  }
  for (const auto& n : g.nodes) {
    const NodeDesc* d = reg.find(n.type);
    const std::string who = "node '" + n.id + "' (" + n.type + ")";
    if (!d) {
      problems.push_back({"node '" + n.id + "' has unknown type '" + n.type + "'", {n.id}});
      continue;
    }
    if (!n.params.is_object()) {
      problems.push_back({who + ": 'params' must be an object", {n.id}});
    } else {
      for (const auto& [k, v] : n.params.items()) {
        const ParamDesc* p = d->param(k);
        if (!p) {
          problems.push_back({who + " has no parameter '" + k + "'", {n.id}});
          continue;
        }
        if (auto err = check_param_value(*p, v)) problems.push_back({who + ": parameter '" + k + "': " + *err, {n.id}});
      }
    }
    for (const auto& [port, c] : n.inputs) {
      const PortDesc* in = d->input(port);
      if (!in) {
        problems.push_back({who + " has no input '" + port + "'", {n.id}});
        continue;
      }
      const auto found = ids.find(c.node);
      const Node* up = found == ids.end() ? nullptr : found->second;
      if (!up) {
        problems.push_back({who + ": input '" + port + "' connects to missing node '" + c.node + "'", {n.id}});
        continue;
      }
      const NodeDesc* ud = reg.find(up->type);
      if (!ud) continue;  // reported for that node
      const PortDesc* out = ud->output(c.output);
      if (!out) {
        problems.push_back({who + ": input '" + port + "' connects to '" + c.node + "." + c.output + "', but " +
                                up->type + " has no output '" + c.output + "'",
                            {n.id, up->id}});
        continue;
      }
      if (out->type != in->type)
        problems.push_back({who + ": input '" + port + "' expects " + std::string(port_type_name(in->type)) +
                                " but '" + c.node + "." + c.output + "' is " + std::string(port_type_name(out->type)),
                            {n.id, up->id}});
    }
    for (const auto& in : d->inputs)
      if (!in.optional && !n.inputs.count(in.name))
        problems.push_back({who + ": required input '" + in.name + "' is not connected", {n.id}});
  }
  try {
    topological_order(g);
  } catch (const Error& e) {
    problems.push_back({e.what(), e.node_ids()});
  }
  return problems;
}

void require_valid(const Graph& g, const NodeRegistry& reg) {
  auto problems = validate(g, reg);
  if (problems.empty()) return;
  std::string msg = "invalid graph:";
  std::vector<std::string> ids;
  for (const auto& p : problems) {
    msg += "\n  " + p.message;
    ids.insert(ids.end(), p.node_ids.begin(), p.node_ids.end());
  }
  throw_invalid(msg, ids);
}

}  // namespace lattice
