#pragma once
/// Weights for model-loading nodes: the checkpoint named by a node's `path` and `component` parameters, and
/// the plan-time fallback to the component's config.json when the weights are not (yet) on disk. For the
/// loaders' evaluate() and plan() (the FLUX, Wan, LTX and VAE loaders; the text-encoder loaders, which take
/// one path per encoder, open theirs inline).

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/eval_context.h"
#include "nodes/models/weights.h"

namespace lattice {

/// WeightSource::open(path, component) with `wrapper_prefix` (e.g. "model.diffusion_model." of single-file
/// community checkpoints) stripped from the keys. Throws Error(InvalidInput) naming the node when `path` is
/// empty, and WeightSource's errors when it cannot be read.
std::shared_ptr<WeightSource> open_node_weights(const ParamReader& ctx, const std::string& wrapper_prefix = "");

/// For plan(): the weights when they open; otherwise null with `config` set to the component's config.json.
/// Rethrows the opening error when there is no config.json either.
std::shared_ptr<WeightSource> open_node_weights_or_config(const ParamReader& ctx, const std::string& wrapper_prefix,
                                                          std::optional<nlohmann::json>& config);

}  // namespace lattice
