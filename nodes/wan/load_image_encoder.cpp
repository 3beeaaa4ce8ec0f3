// wan.load_image_encoder: Wan 2.1 image-to-video's CLIP vision tower (OpenCLIP ViT-H/14 in transformers'
// CLIPVisionModel layout) and its CLIPImageProcessor settings, from a Wan I2V diffusers folder
// (image_encoder/, image_processor/), an image_encoder folder, or a .safetensors file (e.g. ComfyUI's
// clip_vision_h.safetensors). Wan-AI's original .pth is refused: safetensors only.
#include <fstream>

#include "core/eval_context.h"
#include "nodes/models/parameter_count.h"
#include "nodes/types/image_encoder_handle.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

// The processor settings: the 'processor' parameter (a preprocessor_config.json or its folder), else the
// pipeline folder's image_processor/, else CLIPImageProcessor's Wan defaults.
ClipImageProcessorConfig processor_config(const ParamReader& ctx) {
  fs::path file = ctx.in_path("processor");
  std::error_code ec;
  if (!file.empty() && fs::is_directory(file, ec)) file /= "preprocessor_config.json";
  if (file.empty()) {
    const fs::path guess = ctx.in_path("path") / "image_processor" / "preprocessor_config.json";
    if (!fs::is_regular_file(guess, ec)) return {};
    file = guess;
  }
  std::ifstream in(file);
  if (!in) throw_invalid(ctx.who() + ": cannot read " + file.string(), {ctx.node_id()});
  try {
    return ClipImageProcessorConfig::from_json(nlohmann::json::parse(in));
  } catch (const nlohmann::json::exception& e) {
    throw_invalid(ctx.who() + ": " + file.string() + ": malformed JSON: " + e.what(), {ctx.node_id()});
  } catch (const Error& e) {
    throw_invalid(ctx.who() + ": " + file.string() + ": " + e.what(), {ctx.node_id()});
  }
}

void describe(PlanInfo& p, const ClipVisionConfig& c) {
  p.shape += "CLIP vision " + std::to_string(c.hidden_size) + " wide, " + std::to_string(c.num_hidden_layers) + " layers, " +
             std::to_string(c.image_size) + "px / " + std::to_string(c.patch_size) + " patches (" + std::to_string(c.tokens()) +
             " tokens)";
  p.meta = {{"config", {{"hidden", c.hidden_size}, {"intermediate", c.intermediate_size}, {"layers", c.num_hidden_layers},
                        {"heads", c.num_attention_heads}, {"image_size", c.image_size}, {"patch", c.patch_size},
                        {"tokens", c.tokens()}}}};
}

NodeDesc make() {
  NodeDesc d;
  d.type = "wan.load_image_encoder";
  d.category = "Wan";
  d.description = "Load Wan 2.1 I2V's CLIP image encoder (ViT-H/14, safetensors) and its preprocessing settings";
  d.outputs = {{"image_encoder", PortType::ImageEncoder, "CLIP vision tower; weights reach the device on first use"}};
  d.params = {{"path", ParamType::InPath, "", "Wan I2V pipeline folder, image_encoder folder, or a .safetensors file"},
              {"component", ParamType::String, "image_encoder", "subfolder to use when 'path' is a pipeline folder"},
              {"processor", ParamType::InPath, "",
               "preprocessor_config.json (or its folder); default: the pipeline's image_processor/, else Wan's settings"}};
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    const fs::path path = ctx.in_path("path");
    if (path.empty())
      throw_invalid(ctx.who() + ": set 'path' (a Wan I2V pipeline folder, an image_encoder folder or a .safetensors file)",
                    {ctx.node_id()});
    auto w = std::make_shared<WeightSource>(open_clip_vision_weights(path, ctx.string("component")));
    const ClipVisionConfig c = detect_clip_vision_config(*w);
    const ClipImageProcessorConfig processor = processor_config(ctx);
    if (processor.crop_height != c.image_size || processor.crop_width != c.image_size)
      throw_invalid(ctx.who() + ": the processor crops " + std::to_string(processor.crop_width) + "x" +
                        std::to_string(processor.crop_height) + " but the encoder takes " + std::to_string(c.image_size) + "x" +
                        std::to_string(c.image_size) + " images",
                    {ctx.node_id()});
    ctx.set_output("image_encoder",
                   std::make_shared<ImageEncoderData>(std::make_shared<ClipVisionHandle>(w, c, path.string()), processor));
  };
  d.plan = [](PlanContext& ctx) {
    PlanInfo p;
    const fs::path path = ctx.in_path("path");
    try {
      const WeightSource w = open_clip_vision_weights(path, ctx.string("component"));
      describe(p, detect_clip_vision_config(w));
      p.weight_bytes = w.total_bytes();
    } catch (const Error&) {
      // No weights yet: plan from the component's config.json if it is there (its torch_dtype, else 16 bits).
      auto cfg = component_config(path, ctx.string("component"));
      if (path.empty() || !cfg) throw;
      ClipVisionConfig c = clip_vision_config_from_json(*cfg);
      c.projection_dim = 0;  // a CLIPVisionModel: the config's projection width has no weights
      const bool f32 = cfg->value("torch_dtype", std::string()) == "float32";
      p.shape = f32 ? "(config only, f32) " : "(config only, 16-bit) ";
      describe(p, c);
      p.weight_bytes = (f32 ? 4 : 2) * parameter_count(c);
    }
    ctx.set_output("image_encoder", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
