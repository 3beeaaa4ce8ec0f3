#include "core/node.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace lattice {

std::string_view param_type_name(ParamType t) {
  switch (t) {
    case ParamType::Float: return "float";
    case ParamType::Int: return "int";
    case ParamType::Bool: return "bool";
    case ParamType::String: return "string";
    case ParamType::Choice: return "choice";
    case ParamType::InPath: return "input_path";
    case ParamType::OutPath: return "output_path";
    case ParamType::Seed: return "seed";
    case ParamType::Color: return "color";
  }
  return "unknown";
}

const PortDesc* NodeDesc::input(std::string_view name) const {
  for (const auto& p : inputs)
    if (p.name == name) return &p;
  return nullptr;
}

const PortDesc* NodeDesc::output(std::string_view name) const {
  for (const auto& p : outputs)
    if (p.name == name) return &p;
  return nullptr;
}

const ParamDesc* NodeDesc::param(std::string_view name) const {
  for (const auto& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

NodeRegistry& NodeRegistry::instance() {
  static NodeRegistry r;
  return r;
}

void NodeRegistry::add(NodeDesc desc) {
  if (nodes_.count(desc.type)) {
    std::fprintf(stderr, "lattice: node type '%s' registered twice\n", desc.type.c_str());
    std::abort();
  }
  std::string key = desc.type;
  nodes_.emplace(std::move(key), std::make_unique<NodeDesc>(std::move(desc)));
}

const NodeDesc* NodeRegistry::find(std::string_view type) const {
  auto it = nodes_.find(type);
  return it == nodes_.end() ? nullptr : it->second.get();
}

std::vector<const NodeDesc*> NodeRegistry::all() const {
  std::vector<const NodeDesc*> v;
  for (const auto& [k, d] : nodes_) v.push_back(d.get());
  return v;
}

Json NodeRegistry::catalogue() const {
  Json nodes = Json::array();
  auto ports = [](const std::vector<PortDesc>& ps) {
    Json a = Json::array();
    for (const auto& p : ps) {
      Json j = {{"name", p.name}, {"type", port_type_name(p.type)}, {"description", p.description}};
      if (p.optional) j["optional"] = true;
      a.push_back(std::move(j));
    }
    return a;
  };
  for (const auto* d : all()) {
    Json params = Json::array();
    for (const auto& p : d->params) {
      Json j = {{"name", p.name}, {"type", param_type_name(p.type)}, {"default", p.default_value},
                {"description", p.description}};
      if (std::isfinite(p.min)) j["min"] = p.min;
      if (std::isfinite(p.max)) j["max"] = p.max;
      if (!p.choices.empty()) j["choices"] = p.choices;
      params.push_back(std::move(j));
    }
    nodes.push_back({{"type", d->type},
                     {"category", d->category},
                     {"description", d->description},
                     {"version", d->version},
                     {"inputs", ports(d->inputs)},
                     {"outputs", ports(d->outputs)},
                     {"params", std::move(params)},
                     {"side_effect", d->side_effect}});
  }
  return {{"lattice_catalogue", 1}, {"nodes", std::move(nodes)}};
}

}  // namespace lattice
