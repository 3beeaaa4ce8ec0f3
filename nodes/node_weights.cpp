#include "nodes/node_weights.h"

#include "core/error.h"

namespace lattice {

std::shared_ptr<WeightSource> open_node_weights(const ParamReader& ctx, const std::string& wrapper_prefix) {
  const auto path = ctx.in_path("path");
  if (path.empty()) throw_invalid(ctx.who() + ": parameter 'path' is empty", {ctx.node_id()});
  auto w = std::make_shared<WeightSource>(WeightSource::open(path, ctx.string("component")));
  if (!wrapper_prefix.empty()) w->strip_prefix(wrapper_prefix);
  return w;
}

std::shared_ptr<WeightSource> open_node_weights_or_config(const ParamReader& ctx, const std::string& wrapper_prefix,
                                                          std::optional<nlohmann::json>& config) {
  try {
    return open_node_weights(ctx, wrapper_prefix);
  } catch (const Error&) {
    config = component_config(ctx.in_path("path"), ctx.string("component"));
    if (!config) throw;
    return nullptr;
  }
}

std::filesystem::path pipeline_part_path(const ParamReader& ctx, const char* param, const char* sub,
                                         const char* pipeline) {
  const auto own = ctx.in_path(param);
  if (!own.empty()) return own;
  const auto root = ctx.in_path("path");
  if (root.empty())
    throw_invalid(ctx.who() + ": set 'path' (" + pipeline + ") or '" + param + "'", {ctx.node_id()});
  return root / sub;
}

}  // namespace lattice
