#pragma once
/// Pure graph edits the editor's request methods are built from. No Qt: each function takes a Graph and
/// either answers a question or returns the edited copy, so GraphDocument can validate on a copy and
/// commit only when everything succeeded. Node types come from the registry passed in; nothing here
/// names a node type.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/graph.h"

namespace lattice::editor {

/// Why connecting from.out -> to.in is refused, or nullopt when it is allowed: both nodes and ports must
/// exist, the output and input must carry the same PortType, and the edge must not close a cycle.
std::optional<std::string> connection_problem(const Graph& g, const std::string& from, const std::string& out,
                                              const std::string& to, const std::string& in,
                                              const NodeRegistry& reg = NodeRegistry::instance());

/// True when `ancestor` is `node` or feeds it, directly or through other nodes.
bool depends_on(const Graph& g, const std::string& node, const std::string& ancestor);

/// Ids of `ids` and of every node downstream of them.
std::set<std::string> downstream(const Graph& g, const std::set<std::string>& ids);

/// A fresh id for a node of `type` ("math3" for value.math): the last dotted part plus the smallest
/// number not used in `g` or in `taken`.
std::string unique_id(const Graph& g, const std::string& type, const std::set<std::string>& taken = {});

/// The nodes `ids` as a graph of their own, keeping only connections between them.
Graph extract(const Graph& g, const std::vector<std::string>& ids);

/// Inserts copies of `part`'s nodes into `g` under fresh ids, rewiring connections inside `part`, keeping
/// connections to nodes of `g` that exist (when keep_outside is true), and moving them by (dx, dy).
/// Returns the new ids in the order of `part.nodes`.
std::vector<std::string> insert_copies(Graph& g, const Graph& part, double dx, double dy, bool keep_outside);

/// Position stored in a node's `ui` object ({"x":..,"y":..}), or nullopt.
std::optional<std::pair<double, double>> node_position(const Node& n);
void set_node_position(Node& n, double x, double y);

/// Gives every node without a position one, in columns by dependency depth.
void place_unpositioned(Graph& g);

/// Ids of nodes the engine can evaluate now: valid themselves (validate() names no problem with them)
/// and fed only by such nodes. `problems` receives the first problem message for each other node.
std::set<std::string> runnable_nodes(const Graph& g, std::map<std::string, std::string>* problems,
                                     const NodeRegistry& reg = NodeRegistry::instance());

/// `g` restricted to `keep` (connections from dropped nodes removed).
Graph restrict_to(const Graph& g, const std::set<std::string>& keep);

}  // namespace lattice::editor
