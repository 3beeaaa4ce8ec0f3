#pragma once
/// Weights for model-loading nodes: the checkpoint named by a node's `path` and `component` parameters, and
/// the plan-time fallback to the component's config.json when the weights are not (yet) on disk. For the
/// loaders' evaluate() and plan() (the FLUX, Wan, LTX and VAE loaders), and the per-part paths of the
/// text-encoder loaders, which take one path per encoder and tokenizer beside a pipeline folder.

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/eval_context.h"
#include "core/node.h"
#include "gpu/dtype.h"
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

/// The path of one part of a pipeline: the node's own `param` when set, else `<path>/<sub>` (e.g. the
/// diffusers folder's "text_encoder_2"). Throws Error(InvalidInput) naming the node, the `pipeline` kind
/// (e.g. "a FLUX pipeline folder") and `param` when neither is set.
std::filesystem::path pipeline_part_path(const ParamReader& ctx, const char* param, const char* sub,
                                         const char* pipeline);

/// The DiT loaders' `weight_dtype` parameter: how the matrices are stored on the device ("stored": as the
/// checkpoint stores them, fp8 widened to f32; else bf16, f16, fp8_e4m3fn, fp8_e5m2 or f32, converted on the
/// host as they are uploaded). fp8 halves bf16's device bytes (a 12B FLUX in about 12 GB).
ParamDesc weight_dtype_param();
/// The dtype the parameter names (none for "stored").
std::optional<gpu::DType> weight_dtype(const ParamReader& ctx);
/// The plan's weight dtype word: "bf16" ... or, for "stored", `stored`.
std::string weight_dtype_text(const std::optional<gpu::DType>& dtype, const std::string& stored);

}  // namespace lattice
