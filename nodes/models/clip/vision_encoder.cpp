#include "nodes/models/clip/vision_encoder.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "gpu/ops/binary.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/copy.h"
#include "gpu/ops/norm.h"
#include "gpu/ops/patchify.h"
#include "nodes/models/text_blocks.h"

namespace lattice {

using gpu::Tensor;
namespace fs = std::filesystem;

namespace {

const std::string kPrefix = "vision_model.";
const std::string kClass = "vision_model.embeddings.class_embedding";
const std::string kPatch = "vision_model.embeddings.patch_embedding.weight";
const std::string kPositions = "vision_model.embeddings.position_embedding.weight";
const std::string kProjection = "visual_projection.weight";

ClipVisionConfig validated(ClipVisionConfig c) {
  c.validate();
  return c;
}

bool is_pickle(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".pth" || ext == ".pt" || ext == ".bin" || ext == ".ckpt";
}

[[noreturn]] void refuse_pickle(const fs::path& p) {
  throw_invalid(p.string() +
                ": a PyTorch pickle; Lattice reads CLIP image encoders from safetensors only (the diffusers layout "
                "image_encoder/model.safetensors with vision_model.* keys, e.g. Wan-AI/Wan2.1-I2V-14B-480P-Diffusers, or "
                "ComfyUI's clip_vision_h.safetensors)");
}

}  // namespace

void ClipVisionConfig::validate() const {
  if (hidden_size <= 0 || intermediate_size <= 0 || num_hidden_layers <= 0 || num_attention_heads <= 0 || num_channels <= 0 ||
      image_size <= 0 || patch_size <= 0 || projection_dim < 0)
    throw_invalid("CLIP vision config: sizes must be positive");
  if (hidden_size % num_attention_heads)
    throw_invalid("CLIP vision config: hidden_size " + std::to_string(hidden_size) + " is not a multiple of num_attention_heads " +
                  std::to_string(num_attention_heads));
  if (head_dim() > 256) throw_invalid("CLIP vision config: head dim " + std::to_string(head_dim()) + " is over 256");
  if (image_size % patch_size)
    throw_invalid("CLIP vision config: image_size " + std::to_string(image_size) + " is not a multiple of patch_size " +
                  std::to_string(patch_size));
}

ClipVisionConfig clip_vision_config_from_json(const nlohmann::json& json) {
  const nlohmann::json& j = json.contains("vision_config") ? json["vision_config"] : json;
  ClipVisionConfig c;
  c.hidden_size = j.value("hidden_size", 768);  // transformers' CLIPVisionConfig defaults (ViT-B/32)
  c.intermediate_size = j.value("intermediate_size", 3072);
  c.num_hidden_layers = j.value("num_hidden_layers", 12);
  c.num_attention_heads = j.value("num_attention_heads", 12);
  c.num_channels = j.value("num_channels", 3);
  c.image_size = j.value("image_size", 224);
  c.patch_size = j.value("patch_size", 32);
  c.projection_dim = j.contains("projection_dim") && j["projection_dim"].is_number_integer() ? j["projection_dim"].get<int>() : 0;
  c.layer_norm_eps = j.value("layer_norm_eps", 1e-5f);
  c.hidden_act = parse_clip_activation(j.value("hidden_act", std::string("quick_gelu")), "CLIP vision config");
  c.validate();
  return c;
}

ClipVisionConfig detect_clip_vision_config(const WeightSource& w) {
  if (!w.has(kClass) || !w.has(kPatch))
    throw_invalid(w.origin() + ": not a CLIP vision encoder checkpoint (no " + kClass + "; transformers' vision_model.* names expected)");
  ClipVisionConfig c;
  if (w.config()) c = clip_vision_config_from_json(*w.config());
  c.hidden_size = static_cast<int>(tensor_dim(w, kClass, 0));
  if (w.info(kPatch).shape.size() != 4 || tensor_dim(w, kPatch, 0) != c.hidden_size || tensor_dim(w, kPatch, 2) != tensor_dim(w, kPatch, 3))
    throw_invalid(w.origin() + ": " + kPatch + " should be [hidden, channels, patch, patch]");
  c.num_channels = static_cast<int>(tensor_dim(w, kPatch, 1));
  c.patch_size = static_cast<int>(tensor_dim(w, kPatch, 2));
  const int64_t positions = tensor_dim(w, kPositions, 0);
  const auto grid = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(positions - 1))));
  if (positions < 2 || grid * grid + 1 != positions)
    throw_invalid(w.origin() + ": " + kPositions + " has " + std::to_string(positions) + " rows, not a square grid + 1");
  c.image_size = static_cast<int>(grid) * c.patch_size;
  c.num_hidden_layers = w.count_blocks(kPrefix + "encoder.layers.");
  if (c.num_hidden_layers == 0) throw_invalid(w.origin() + ": not a CLIP vision encoder checkpoint (no encoder layers)");
  c.intermediate_size = static_cast<int>(tensor_dim(w, kPrefix + "encoder.layers.0.mlp.fc1.weight", 0));
  c.projection_dim = w.has(kProjection) ? static_cast<int>(tensor_dim(w, kProjection, 0)) : 0;
  if (!w.config()) {
    // Released towers: OpenAI ViT-B (768, 12 heads) and ViT-L (1024, 16) with quick_gelu; OpenCLIP ViT-H (1280),
    // ViT-g (1408) and ViT-bigG (1664), 16 heads each, with the exact GELU.
    switch (c.hidden_size) {
      case 768: c.num_attention_heads = 12; c.hidden_act = ClipActivation::QuickGelu; break;
      case 1024: c.num_attention_heads = 16; c.hidden_act = ClipActivation::QuickGelu; break;
      case 1280: case 1408: case 1664: c.num_attention_heads = 16; c.hidden_act = ClipActivation::Gelu; break;
      default:
        throw_invalid(w.origin() + ": CLIP vision encoder " + std::to_string(c.hidden_size) +
                      " wide is not a released model; its head count needs a config.json beside the weights");
    }
  }
  c.validate();
  return c;
}

WeightSource open_clip_vision_weights(const fs::path& path, const std::string& component) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec) && is_pickle(path)) refuse_pickle(path);
  try {
    return WeightSource::open(path, component);
  } catch (const Error&) {
    // A folder holding only a pickle: say so rather than "no safetensors".
    const fs::path dir = !component.empty() && fs::is_directory(path / component, ec) ? path / component : path;
    if (fs::is_directory(dir, ec))
      for (const auto& e : fs::directory_iterator(dir, ec))
        if (is_pickle(e.path())) refuse_pickle(e.path());
    throw;
  }
}

ClipVisionEncoder::ClipVisionEncoder(ClipVisionConfig config, DeviceWeights& w)
    : config_(validated(config)),
      encoder_(w, kPrefix + "encoder.layers.",
               {config_.num_hidden_layers, config_.num_attention_heads, config_.layer_norm_eps, config_.hidden_act}) {
  const WeightSource& src = w.source();
  const int64_t C = config_.hidden_size;
  const int64_t p = config_.patch_size;
  if (tensor_dim(src, kClass, 0) != C || tensor_dim(src, kPositions, 0) != config_.tokens() || tensor_dim(src, kPositions, 1) != C)
    throw_invalid(src.origin() + ": CLIP vision embeddings do not match hidden_size " + std::to_string(C) + " and " +
                  std::to_string(config_.tokens()) + " positions");
  const std::vector<int64_t> patch_shape{C, config_.num_channels, p, p};
  if (src.info(kPatch).shape != patch_shape)
    throw_invalid(src.origin() + ": " + kPatch + " has shape " + HostTensor{DType::F32, src.info(kPatch).shape, {}}.shape_string() +
                  ", expected " + HostTensor{DType::F32, patch_shape, {}}.shape_string());
  // A stride-p p×p convolution without bias is a linear over channel-major flattened patches.
  patch_embedding_.weight = w.f32(kPatch).reshape({C, int64_t{config_.num_channels} * p * p});
  class_embedding_ = w.f32(kClass).reshape({1, 1, C});
  position_embedding_ = w.f32(kPositions);
  pre_w_ = w.vector(kPrefix + "pre_layrnorm.weight");
  pre_b_ = w.vector(kPrefix + "pre_layrnorm.bias");
  post_w_ = w.vector(kPrefix + "post_layernorm.weight");
  post_b_ = w.vector(kPrefix + "post_layernorm.bias");
  if (config_.projection_dim > 0) visual_projection_ = Linear::load(w, "visual_projection");
}

ClipVisionOutput ClipVisionEncoder::encode(gpu::CommandStream& s, const Tensor& pixels, bool penultimate_only) const {
  const auto& c = config_;
  if (pixels.rank() != 4 || pixels.dim(1) != c.num_channels || pixels.dim(2) != c.image_size || pixels.dim(3) != c.image_size)
    throw_eval("CLIP vision encoder: pixels " + pixels.describe() + ", expected [B, " + std::to_string(c.num_channels) + ", " +
               std::to_string(c.image_size) + ", " + std::to_string(c.image_size) + "]");
  const int64_t B = pixels.dim(0), C = c.hidden_size, p = c.patch_size;

  // Embeddings: [class, patches] + positions, x [B, tokens, C].
  const Tensor frames = pixels.reshape({B, c.num_channels, 1, c.image_size, c.image_size});
  const Tensor patches = patch_embedding_(s, gpu::patchify(s, frames, {1, p, p}, gpu::PatchOrder::ChannelMajor));  // [B, g², C]
  std::vector<Tensor> parts(static_cast<size_t>(B), class_embedding_);
  const Tensor cls = B == 1 ? class_embedding_ : gpu::concat(s, parts, 0);  // [B, 1, C]
  Tensor x = gpu::add(s, gpu::concat(s, {cls, patches}, 1), position_embedding_);
  x = gpu::layer_norm(s, x, c.layer_norm_eps, pre_w_, pre_b_);

  ClipVisionOutput out;
  if (penultimate_only) {
    // hidden_states[-2] is the output of layer N-1 (the embeddings themselves for a one-layer tower).
    out.penultimate = c.num_hidden_layers == 1 ? x : encoder_.forward(s, x, false, c.num_hidden_layers - 1);
    return out;
  }
  out.last_hidden = encoder_.forward(s, x, false, c.num_hidden_layers, &out.penultimate);
  const int64_t L = c.tokens();
  const Tensor first = gpu::contiguous(s, out.last_hidden.view({B, C}, {L * C, 1}, out.last_hidden.offset()));  // [B, C]
  out.pooled = gpu::layer_norm(s, first, c.layer_norm_eps, post_w_, post_b_);
  if (c.projection_dim > 0) out.image_embeds = visual_projection_(s, out.pooled);
  return out;
}

}  // namespace lattice
