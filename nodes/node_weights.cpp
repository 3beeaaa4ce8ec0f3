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

namespace {
const std::vector<std::pair<std::string, std::optional<gpu::DType>>>& weight_dtypes() {
  static const std::vector<std::pair<std::string, std::optional<gpu::DType>>> all = {
      {"stored", std::nullopt},           {"bf16", gpu::DType::BF16},         {"f16", gpu::DType::F16},
      {"fp8_e4m3fn", gpu::DType::F8E4M3FN}, {"fp8_e5m2", gpu::DType::F8E5M2}, {"f32", gpu::DType::F32}};
  return all;
}
}  // namespace

ParamDesc weight_dtype_param() {
  ParamDesc p{"weight_dtype", ParamType::Choice, "stored",
              "device dtype of the matrices: as stored, or converted on upload (fp8: half of bf16's memory)"};
  for (const auto& [name, dtype] : weight_dtypes()) p.choices.push_back(name);
  return p;
}

std::optional<gpu::DType> weight_dtype(const ParamReader& ctx) {
  const std::string v = ctx.string("weight_dtype");
  for (const auto& [name, dtype] : weight_dtypes())
    if (name == v) return dtype;
  throw_invalid(ctx.who() + ": unknown weight_dtype '" + v + "'", {ctx.node_id()});
}

std::string weight_dtype_text(const std::optional<gpu::DType>& dtype, const std::string& stored) {
  for (const auto& [name, d] : weight_dtypes())
    if (d && d == dtype) return name;
  return stored;
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
