// --run-fixture for CLIPTextModel: one forward of the stored ids through the config and weights.
#include "core/error.h"
#include "nodes/models/checkpoint_shapes.h"
#include "nodes/models/clip/text_encoder.h"
#include "nodes/models/fixture_device.h"

namespace lattice {

namespace {

HostTensor download(const gpu::Tensor& t) { return fixture_output(t); }

FixtureOutputs run(const Fixture& fx) {
  const ClipTextConfig config = clip_text_config_from_json(fx.config());
  const int64_t C = config.hidden_size;
  FixtureShapes shapes(fx);
  shapes.need("input.input_ids", {"B", "L"})
      .need("output.last_hidden_state", {"B", "L", C})
      .need("output.hidden_states_penultimate", {"B", "L", C})
      .need("output.pooler_output", {"B", C});
  FixtureDevice dev(fx, clip_text_checkpoint_shapes(config));
  gpu::Context& ctx = dev.ctx;
  ClipTextEncoder model(config, dev.weights);

  const HostTensor ids_t = fx.tensor("input.input_ids");
  // Ids are exact in f32 (the vocabulary is far below 2^24).
  std::vector<int32_t> ids;
  for (float v : ids_t.to_f32()) ids.push_back(static_cast<int32_t>(v));

  gpu::CommandStream s(ctx);
  const ClipTextOutput out = model.encode(s, ids, ids_t.shape[0]);
  s.finish();
  return {{"output.last_hidden_state", download(out.last_hidden)},
          {"output.hidden_states_penultimate", download(out.penultimate)},
          {"output.pooler_output", download(out.pooled)}};
}

const FixtureRegistrar reg("CLIPTextModel", run);

}  // namespace
}  // namespace lattice
