#pragma once
/// Keeping the service's file access inside its folders (docs/service.md, "Files").
///
/// Submitted graphs: every output-path parameter (explicit or default) must be a relative path without '..'
/// (it resolves inside the job's folder); absolute or escaping values are refused, not rewritten, so a client
/// never gets a file somewhere it did not ask for. Every input-path parameter must likewise be relative and
/// resolve, after following symbolic links, inside the input folder; in nodes that read files, text parameters
/// (a loader's "component" subfolder) may not be absolute or contain '..' either. Downloads resolve a name inside a job's
/// folder and are served only if the canonical path (links followed) is a regular file inside that folder.

#include <filesystem>
#include <optional>
#include <string>

#include "core/graph.h"

namespace lattice::serve {

/// True if `inner` (canonical) is `root` (canonical) or below it.
bool is_within(const std::filesystem::path& root, const std::filesystem::path& inner);

/// Checks the path parameters of a submitted graph as described above. Throws Error(Usage) naming the node,
/// the parameter and the value. `check_inputs` = false for the operator's own templates, whose inputs are
/// trusted (they load models from wherever the operator put them).
void confine_graph(const Graph& g, const std::filesystem::path& input_root, bool check_inputs);

/// The file `name` (a relative path) inside `root`, or nullopt if it does not exist, is not a regular file,
/// or lies outside `root` once '..' and links are resolved.
std::optional<std::filesystem::path> confined_file(const std::filesystem::path& root, const std::string& name);

}  // namespace lattice::serve
