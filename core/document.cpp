#include "core/document.h"

#include <algorithm>

#include "core/atomic_file.h"
#include "core/error.h"

namespace lattice {

namespace {

// Version 0 was the pre-release draft: nodes were an object keyed by id, and an input was the string
// "node.output". Migrating keeps every other key.
Json migrate_v0_to_v1(Json doc, const std::string& source) {
  Json nodes = Json::array();
  auto it = doc.find("nodes");
  if (it != doc.end()) {
    if (!it->is_object()) throw_invalid(source + ": version 0 'nodes' must be an object keyed by node id");
    for (auto& [id, n] : it->items()) {
      if (!n.is_object()) throw_invalid(source + ": node '" + id + "' must be an object");
      Json node = Json::object();
      node["id"] = id;
      for (auto& [k, v] : n.items()) node[k] = v;
      if (auto in = node.find("inputs"); in != node.end() && in->is_object()) {
        for (auto& [port, c] : in->items()) {
          if (!c.is_string()) continue;
          std::string s = c.get<std::string>();
          auto dot = s.rfind('.');
          if (dot == std::string::npos)
            throw_invalid(source + ": node '" + id + "' input '" + port + "' must look like \"node.output\"", {id});
          c = Json{{"node", s.substr(0, dot)}, {"output", s.substr(dot + 1)}};
        }
      }
      nodes.push_back(std::move(node));
    }
  }
  doc["nodes"] = std::move(nodes);
  doc["lattice"] = 1;
  return doc;
}

// Defaults that changed with a format version: a node of `type` saved by an older version without `param`
// meant `old_default`, so migrating writes it explicitly and the node keeps its meaning under the new default.
struct ChangedDefault {
  int version;  // the first format version with the new default
  const char* type;
  const char* param;
  Json old_default;
};
const ChangedDefault kChangedDefaults[] = {
    // ltx.encode_image samples the encoder's distribution, as diffusers' LTXImageToVideoPipeline does.
    {2, "ltx.encode_image", "sample", false},
    // flux.sample's schedule follows the transformer it is given (schnell's without a guidance embedding).
    {3, "flux.sample", "schedule", "dev"},
};

// Writes the old defaults into the nodes of a file of format `version` (>= 1). Entries of the wrong JSON type
// are left for graph_from_json's structure checks.
void migrate_defaults(Json& doc, int version) {
  auto nodes = doc.find("nodes");
  if (nodes == doc.end() || !nodes->is_array()) return;
  for (Json& n : *nodes) {
    if (!n.is_object() || !n.contains("type") || !n["type"].is_string()) continue;
    for (const ChangedDefault& c : kChangedDefaults) {
      if (version >= c.version || n["type"] != c.type) continue;
      Json& params = n["params"];  // null when absent: becomes an object below
      if (params.is_null()) params = Json::object();
      if (params.is_object() && !params.contains(c.param)) params[c.param] = c.old_default;
    }
  }
}

const Json& require(const Json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) throw_invalid(where + ": missing '" + key + "'");
  return *it;
}

}  // namespace

Graph graph_from_json(Json doc, const std::string& source) {
  if (!doc.is_object()) throw_invalid(source + ": a .lattice file must hold a JSON object");
  auto ver = doc.find("lattice");
  if (ver == doc.end() || !ver->is_number_integer())
    throw_invalid(source + ": not a .lattice file (no integer \"lattice\" format version)");
  int version = ver->get<int>();
  if (version > kLatticeFormatVersion)
    throw_invalid(source + ": format version " + std::to_string(version) + " is newer than this Lattice (" +
                  std::to_string(kLatticeFormatVersion) + "); open it with a newer version");
  if (version < 0) throw_invalid(source + ": format version " + std::to_string(version) + " is not valid");
  if (version == 0) doc = migrate_v0_to_v1(std::move(doc), source);
  migrate_defaults(doc, std::max(version, 1));

  Graph g;
  const Json& nodes = require(doc, "nodes", source);
  if (!nodes.is_array()) throw_invalid(source + ": 'nodes' must be an array");
  for (const auto& jn : nodes) {
    if (!jn.is_object()) throw_invalid(source + ": every entry of 'nodes' must be an object");
    Node n;
    const Json& id = require(jn, "id", source + ": a node");
    if (!id.is_string()) throw_invalid(source + ": a node id must be a string");
    n.id = id.get<std::string>();
    const std::string where = source + ": node '" + n.id + "'";
    const Json& type = require(jn, "type", where);
    if (!type.is_string()) throw_invalid(where + ": 'type' must be a string", {n.id});
    n.type = type.get<std::string>();
    for (const auto& [k, v] : jn.items()) {
      if (k == "id" || k == "type") continue;
      if (k == "params") {
        if (!v.is_object()) throw_invalid(where + ": 'params' must be an object", {n.id});
        n.params = v;
      } else if (k == "ui") {
        if (!v.is_object()) throw_invalid(where + ": 'ui' must be an object", {n.id});
        n.ui = v;
      } else if (k == "inputs") {
        if (!v.is_object()) throw_invalid(where + ": 'inputs' must be an object", {n.id});
        for (const auto& [port, c] : v.items()) {
          if (!c.is_object() || !c.contains("node") || !c.contains("output") || !c["node"].is_string() ||
              !c["output"].is_string())
            throw_invalid(where + ": input '" + port + "' must be {\"node\": id, \"output\": name}", {n.id});
          n.inputs[port] = Connection{c["node"].get<std::string>(), c["output"].get<std::string>()};
        }
      } else {
        n.extra[k] = v;
      }
    }
    g.nodes.push_back(std::move(n));
  }
  for (const auto& [k, v] : doc.items())
    if (k != "lattice" && k != "nodes") g.extra[k] = v;
  return g;
}

Graph parse_graph(std::string_view text, const std::string& source) {
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    // parse_error, and out_of_range for numbers too large for a double; the message names the byte offset.
    throw_invalid(source + ": malformed JSON: " + std::string(e.what()));
  }
  return graph_from_json(std::move(doc), source);
}

Json graph_to_json(const Graph& g) {
  Json doc = Json::object();
  doc["lattice"] = kLatticeFormatVersion;
  Json nodes = Json::array();
  for (const auto& n : g.nodes) {
    Json j = Json::object();
    j["id"] = n.id;
    j["type"] = n.type;
    j["params"] = n.params;
    Json inputs = Json::object();
    for (const auto& [port, c] : n.inputs) inputs[port] = {{"node", c.node}, {"output", c.output}};
    j["inputs"] = std::move(inputs);
    j["ui"] = n.ui;
    for (const auto& [k, v] : n.extra.items()) j[k] = v;
    nodes.push_back(std::move(j));
  }
  doc["nodes"] = std::move(nodes);
  for (const auto& [k, v] : g.extra.items()) doc[k] = v;
  return doc;
}

std::string serialize_graph(const Graph& g) { return graph_to_json(g).dump(2) + "\n"; }

Graph load_graph_file(const std::filesystem::path& path) { return parse_graph(read_file(path), path.string()); }

void save_graph_file(const Graph& g, const std::filesystem::path& path) { write_file_atomic(path, serialize_graph(g)); }

}  // namespace lattice
