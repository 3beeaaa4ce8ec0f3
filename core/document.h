#pragma once
/// The .lattice project file (docs/lattice-format.md, schemas/lattice.schema.json).
///
///   { "lattice": 2, "nodes": [ { "id", "type", "params": {}, "inputs": { port: {"node", "output"} },
///                                 "ui": {} }, ... ], ...unknown keys kept }
///
/// Loading checks structure (types of the file's own keys) and migrates older format versions; a file of a
/// newer major version is refused. Node semantics (types, ports, parameters) are checked by validate().
/// Unknown keys at the top level and inside nodes survive a load/save round trip, in their order.

#include <filesystem>
#include <string>
#include <string_view>

#include "core/graph.h"

namespace lattice {

/// Format version this build writes; files with a larger major version are refused.
/// 2: ltx.encode_image samples by default (a version 1 node without "sample" is migrated to sample: false).
/// 3: flux.sample's schedule defaults to "auto" (an older node without "schedule" is migrated to "dev").
constexpr int kLatticeFormatVersion = 3;

/// Parses .lattice JSON. `source` names the file in error messages. Throws Error(InvalidInput).
Graph parse_graph(std::string_view json_text, const std::string& source = "<memory>");
/// Converts a parsed document (any supported version) into a Graph. Throws Error(InvalidInput).
Graph graph_from_json(Json doc, const std::string& source = "<memory>");
Json graph_to_json(const Graph& g);
/// Pretty-printed JSON with a trailing newline.
std::string serialize_graph(const Graph& g);

/// Loads a .lattice file. Throws Error(InvalidInput) naming the file.
Graph load_graph_file(const std::filesystem::path& path);
/// Saves atomically (see atomic_file.h): on failure the previous file is intact.
void save_graph_file(const Graph& g, const std::filesystem::path& path);

}  // namespace lattice
