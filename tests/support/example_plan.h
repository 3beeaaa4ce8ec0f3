#pragma once
// The dry-run plan of one of the example graphs (examples/<file>), as the planning tests read it: each node's
// first output's PlanInfo by node id. Nothing is evaluated; `o` carries the environment (and anything else the
// test sets), its base_dir becomes examples/ so that the graph's relative paths resolve there.
#include <filesystem>
#include <map>
#include <string>

#include "core/cache.h"
#include "core/document.h"
#include "core/engine.h"

namespace lattice::test {

inline std::map<std::string, PlanInfo> plan_example(const std::string& file, RenderOptions o) {
  const std::filesystem::path examples = std::filesystem::path(LATTICE_SOURCE_DIR) / "examples";
  const Graph g = load_graph_file(examples / file);
  o.base_dir = examples;
  MemoryCache mem;
  Engine e(&mem);
  std::map<std::string, PlanInfo> plan;
  for (const auto& row : e.plan(g, o)) plan[row.id] = row.outputs.at(0).second;
  return plan;
}

}  // namespace lattice::test
