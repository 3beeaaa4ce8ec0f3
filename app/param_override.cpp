#include "app/param_override.h"

namespace lattice::app {

namespace {

[[noreturn]] void usage(const std::string& m) { throw Error(ErrorKind::Usage, m); }

bool takes_text(ParamType t) {
  return t == ParamType::String || t == ParamType::Choice || t == ParamType::InPath || t == ParamType::OutPath;
}

}  // namespace

ParamTarget find_param(Graph& g, const std::string& target, const std::string& what) {
  const auto dot = target.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == target.size())
    usage(what + ": expected NODE_ID.PARAM, got '" + target + "'");
  const std::string id = target.substr(0, dot), param = target.substr(dot + 1);
  Node* n = g.find(id);
  if (!n) usage(what + ": no node with id '" + id + "'");
  const NodeDesc* d = NodeRegistry::instance().find(n->type);
  if (!d) usage(what + ": node '" + id + "' has unknown type '" + n->type + "'");
  const ParamDesc* p = d->param(param);
  if (!p) {
    std::string names;
    for (const auto& q : d->params) names += (names.empty() ? "" : ", ") + q.name;
    usage(what + ": " + n->type + " has no parameter '" + param + "' (it has: " + names + ")");
  }
  return {n, p};
}

void set_param_text(Graph& g, const std::string& target, const std::string& text, const std::string& what) {
  ParamTarget t = find_param(g, target, what);
  try {
    t.node->params[t.param->name] = parse_param_text(*t.param, text);
  } catch (const Error& e) {
    usage(what + ": " + e.what());
  }
}

void set_param_json(Graph& g, const std::string& target, const Json& value, const std::string& what) {
  if (value.is_string() && !takes_text(find_param(g, target, what).param->type))
    return set_param_text(g, target, value.get<std::string>(), what);
  ParamTarget t = find_param(g, target, what);
  if (auto problem = check_param_value(*t.param, value)) usage(what + ": " + *problem);
  t.node->params[t.param->name] = value;
}

}  // namespace lattice::app
