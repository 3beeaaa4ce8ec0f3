#pragma once
/// The LTX-Video loaders' shared parameter handling: the weights named by a node's `path` (file, component
/// folder, or pipeline folder with `component` as the subfolder). Throws Error(InvalidInput) naming the node
/// when `path` is empty or does not hold weights.

#include <memory>

#include "core/eval_context.h"
#include "nodes/models/weights.h"

namespace lattice {

inline std::shared_ptr<WeightSource> ltx_open_weights(const ParamReader& ctx) {
  const auto path = ctx.in_path("path");
  if (path.empty()) throw_invalid(ctx.who() + ": parameter 'path' is empty", {ctx.node_id()});
  return std::make_shared<WeightSource>(WeightSource::open(path, ctx.string("component")));
}

}  // namespace lattice
