#pragma once
/// The graph model: nodes with stable string ids, their explicit parameter values, and input connections.
/// A Graph is a plain value (copyable, no hidden state); the editor and the command line own theirs.
/// validate() reports every problem before anything runs; the engine refuses an invalid graph.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/node.h"

namespace lattice {

struct Connection {
  std::string node;    ///< id of the upstream node
  std::string output;  ///< name of its output port
  bool operator==(const Connection&) const = default;
};

struct Node {
  std::string id;
  std::string type;
  Json params = Json::object();               ///< explicit values; absent parameters take their defaults
  std::map<std::string, Connection> inputs;   ///< input port name -> upstream output
  Json ui = Json::object();                   ///< free-form editor data (position, colour, group)
  Json extra = Json::object();                ///< keys this version does not know, kept for round trips
};

class Graph {
 public:
  std::vector<Node> nodes;
  Json extra = Json::object();  ///< unknown top-level keys, kept for round trips

  Node* find(std::string_view id);
  const Node* find(std::string_view id) const;
};

/// Ids are 1..64 characters of [A-Za-z0-9_-].
bool is_valid_node_id(std::string_view id);

struct Problem {
  std::string message;
  std::vector<std::string> node_ids;
};

/// Every problem of the graph: unknown node types, unknown or ill-typed parameters, connections to missing
/// nodes or ports, port type mismatches, missing required inputs, duplicate ids and cycles.
std::vector<Problem> validate(const Graph& g, const NodeRegistry& reg = NodeRegistry::instance());

/// Throws Error(InvalidInput) listing every problem, one per line, if validate() finds any.
void require_valid(const Graph& g, const NodeRegistry& reg = NodeRegistry::instance());

/// Node indices in dependency order (inputs before consumers). Throws Error(InvalidInput) naming the nodes
/// of a cycle if there is one.
std::vector<size_t> topological_order(const Graph& g);

/// The value of every parameter of `node`: explicit values checked against `desc`, defaults for the rest.
/// Throws Error(InvalidInput) for a bad value.
Json resolved_params(const Node& node, const NodeDesc& desc);

/// Checks one parameter value; returns an error message or nullopt.
std::optional<std::string> check_param_value(const ParamDesc& p, const Json& v);

/// Parses the text of `--set ID.PARAM=TEXT` as a value of p's type. Throws Error(Usage) on a bad value.
Json parse_param_text(const ParamDesc& p, std::string_view text);

}  // namespace lattice
