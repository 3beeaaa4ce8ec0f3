#pragma once
/// `lattice --render` and the other headless commands. Returns the process exit code:
/// 0 success, 2 bad usage, 3 invalid graph or input file, 4 failure during evaluation, 130 cancelled.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/graph.h"

namespace lattice::app {

int run_headless(const std::vector<std::string>& args);
/// True if the arguments ask for a headless command (anything but opening the editor).
bool is_headless(const std::vector<std::string>& args);
void print_help();

// Shared by the headless commands (render_command.cpp, export_job.cpp). Each throws lattice::Error.
/// `--frames A-B` (or a single frame): Usage error unless A <= B.
std::pair<int64_t, int64_t> parse_frames(const std::string& text);
/// `--set NODE_ID.PARAM=VALUE` split into {"NODE_ID.PARAM", "VALUE"}; Usage error if malformed.
std::pair<std::string, std::string> parse_set(const std::string& text);
/// A .lattice file, or an image with an embedded graph; sets *document to the graph's JSON.
Graph load_project(const std::string& file, Json* document);
/// Applies --set overrides, checking node ids, parameter names and values (Usage error naming the culprit).
void apply_sets(Graph& g, const std::vector<std::pair<std::string, std::string>>& sets);

}  // namespace lattice::app
