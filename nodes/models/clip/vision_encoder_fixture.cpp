// --run-fixture for CLIPVisionModel(WithProjection): one forward of the stored pixel_values; and for
// CLIPImageProcessor: each stored 8-bit image preprocessed with its case's sizes.
#include "core/error.h"
#include "nodes/models/checkpoint_shapes.h"
#include "nodes/models/clip/image_preprocess.h"
#include "nodes/models/clip/vision_encoder.h"
#include "nodes/models/fixture_device.h"

namespace lattice {

namespace {

HostTensor download(const gpu::Tensor& t) { return fixture_output(t); }

FixtureOutputs run_model(const Fixture& fx) {
  ClipVisionConfig config = clip_vision_config_from_json(fx.config());
  // transformers' config names a projection width for every class; only the WithProjection class has one.
  if (fx.cls() == "CLIPVisionModel") config.projection_dim = 0;
  const int64_t C = config.hidden_size;
  FixtureShapes shapes(fx);
  shapes.need("input.pixel_values", {"B", config.num_channels, config.image_size, config.image_size})
      .need("output.last_hidden_state", {"B", config.tokens(), C})
      .need("output.hidden_states_penultimate", {"B", config.tokens(), C})
      .need("output.pooler_output", {"B", C});
  if (config.projection_dim > 0) shapes.need("output.image_embeds", {"B", config.projection_dim});
  FixtureDevice dev(fx, clip_vision_checkpoint_shapes(config));
  gpu::Context& ctx = dev.ctx;
  ClipVisionEncoder model(config, dev.weights);

  gpu::CommandStream s(ctx);
  const ClipVisionOutput out = model.encode(s, upload_fixture_tensor(ctx, fx, "input.pixel_values"));
  s.finish();
  FixtureOutputs r = {{"output.last_hidden_state", download(out.last_hidden)},
                      {"output.hidden_states_penultimate", download(out.penultimate)},
                      {"output.pooler_output", download(out.pooled)}};
  if (out.image_embeds.defined()) r.emplace_back("output.image_embeds", download(out.image_embeds));
  return r;
}

FixtureOutputs run_processor(const Fixture& fx) {
  const ClipImageProcessorConfig base = ClipImageProcessorConfig::from_json(fx.config());
  if (!fx.run().contains("cases") || !fx.run()["cases"].is_array()) throw_invalid("CLIPImageProcessor fixture: run has no 'cases' list");
  FixtureOutputs r;
  for (const auto& c : fx.run()["cases"]) {
    const std::string name = c.at("name").get<std::string>();
    ClipImageProcessorConfig config = base;
    config.shortest_edge = c.value("shortest_edge", config.shortest_edge);
    config.crop_height = config.crop_width = c.value("crop", config.crop_height);
    if (config.shortest_edge < 0 || config.crop_height <= 0 || config.crop_width <= 0)
      fx.refuse("case '" + name + "': shortest_edge must be at least 0 and the crop positive (the outputs are crops)");
    FixtureShapes(fx).need("input.image." + name, {"H", "W", "C"})  // [H, W, channels], 0..255
        .need("output.pixel_values." + name, {1, 3, config.crop_height, config.crop_width});
    const HostTensor img = fx.tensor("input.image." + name);
    ImageData image(static_cast<int>(img.shape[1]), static_cast<int>(img.shape[0]), static_cast<int>(img.shape[2]));
    const std::vector<float> v = img.to_f32();
    for (size_t i = 0; i < v.size(); ++i) image.pixels[i] = v[i] / 255.0f;  // as an 8-bit file loads
    r.emplace_back("output.pixel_values." + name,
                   HostTensor::from_f32({1, 3, config.crop_height, config.crop_width}, clip_preprocess(image, config)));
  }
  return r;
}

const FixtureRegistrar reg_model("CLIPVisionModel", run_model);
const FixtureRegistrar reg_projection("CLIPVisionModelWithProjection", run_model);
const FixtureRegistrar reg_processor("CLIPImageProcessor", run_processor);

}  // namespace
}  // namespace lattice
