// wan.encode_image: an image to Wan 2.1 I2V's image embedding, as WanImageToVideoPipeline.encode_image
// computes it: CLIPImageProcessor (shortest side to 224, bicubic, center crop, OpenAI CLIP normalisation;
// clip/image_preprocess.h), then the CLIP vision tower's penultimate hidden states (hidden_states[-2]:
// the last layer is not run), [1, 257, 1280] for ViT-H/14. Feeds wan.sample's 'image_embeds'.
#include <algorithm>

#include "core/eval_context.h"
#include "core/types/image.h"
#include "core/types/tensor.h"
#include "nodes/gpu_service.h"
#include "nodes/types/image_encoder_handle.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "wan.encode_image";
  d.category = "Wan";
  d.description = "Encode an image for Wan 2.1 image-to-video: CLIP ViT-H/14 penultimate hidden states [1, 257, 1280]";
  d.inputs = {{"image_encoder", PortType::ImageEncoder, "the CLIP image encoder (wan.load_image_encoder)"},
              {"image", PortType::Image, "the first frame (8-bit values are used, alpha is dropped)"}};
  d.outputs = {{"image_embeds", PortType::Tensor, "penultimate hidden states [1, tokens, width] for wan.sample"}};
  d.params = {{"release", ParamType::Bool, true, "free the encoder's device memory afterwards (sequential offloading)"}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& enc = ctx.input_as<ImageEncoderData>("image_encoder");
    const auto& image = ctx.input_as<ImageData>("image");
    const ClipVisionConfig& c = enc.clip->config();
    const std::vector<float> pixels = clip_preprocess(image, enc.processor);
    gpu::Context& gc = gpu_context(ctx);
    gpu::CommandStream s(gc);
    const gpu::Tensor x = gpu::Tensor::from_floats(gc, pixels, {1, 3, c.image_size, c.image_size});
    const gpu::Tensor t = enc.clip->model(gc).encode(s, x, true).penultimate;
    s.finish();
    HostTensor out = HostTensor::from_f32(t.shape(), t.to_floats());
    if (ctx.flag("release")) enc.clip->release();
    ctx.progress(1.0, "CLIP vision");
    ctx.set_output("image_embeds", std::make_shared<TensorData>(std::move(out)));
  };
  d.plan = [](PlanContext& ctx) {
    PlanInfo p;
    int64_t tokens = 257, width = 1280;  // ViT-H/14 at 224
    if (const PlanInfo* enc = ctx.input("image_encoder"); enc && enc->meta.contains("config")) {
      const auto& j = enc->meta["config"];
      tokens = j["tokens"].get<int64_t>();
      width = j["hidden"].get<int64_t>();
      const double layers = j["layers"].get<double>() - 1, I = j["intermediate"].get<double>();
      const double L = static_cast<double>(tokens), C = static_cast<double>(width);
      // Per layer: q/k/v/out projections, attention scores and mix, the MLP (2 FLOPs per multiply-add).
      p.flops = layers * (2 * L * (4 * C * C + 2 * C * I) + 4 * L * L * C);
      p.activation_bytes = static_cast<uint64_t>(L * std::max(3 * C, I + C) * 4 + L * L * 4 * j["heads"].get<double>());
    }
    p.shape = "image embedding [1, " + std::to_string(tokens) + ", " + std::to_string(width) + "]";
    ctx.set_output("image_embeds", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
