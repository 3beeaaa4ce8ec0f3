// --run-fixture for T5EncoderModel and UMT5EncoderModel: the stored ids through the encoder with the stored
// attention mask (output.last_hidden_state) and without one (output.last_hidden_state_unmasked).
#include <cstring>

#include "core/error.h"
#include "nodes/models/checkpoint_shapes.h"
#include "nodes/models/fixture_device.h"
#include "nodes/models/t5/encoder.h"

namespace lattice {

namespace {

std::vector<int32_t> int_values(const HostTensor& t, const std::string& name) {
  if (t.dtype != DType::I64) {
    const std::vector<float> f = t.to_f32();
    return std::vector<int32_t>(f.begin(), f.end());
  }
  std::vector<int32_t> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t v;
    std::memcpy(&v, t.data.data() + i * sizeof v, sizeof v);
    if (v < INT32_MIN || v > INT32_MAX) throw_invalid("T5 fixture: " + name + " holds " + std::to_string(v));
    out[i] = static_cast<int32_t>(v);
  }
  return out;
}

FixtureOutputs run(const Fixture& fx, bool umt5) {
  T5Config config = t5_config_from_json(fx.config());
  config.per_layer_position_bias = umt5;
  FixtureShapes shapes(fx);
  shapes.need("input.input_ids", {"B", "L"})
      .need("input.attention_mask", {"B", "L"})
      .need("output.last_hidden_state", {"B", "L", config.d_model})
      .need("output.last_hidden_state_unmasked", {"B", "L", config.d_model});
  FixtureDevice dev(fx, t5_checkpoint_shapes(config));
  gpu::Context& ctx = dev.ctx;
  T5Encoder model(config, dev.weights);

  const HostTensor ids_t = fx.tensor("input.input_ids");
  const std::vector<int32_t> ids = int_values(ids_t, "input.input_ids");
  const std::vector<int32_t> mask = int_values(fx.tensor("input.attention_mask"), "input.attention_mask");

  gpu::CommandStream s(ctx);
  const gpu::Tensor masked = model.encode(s, ids, mask, ids_t.shape[0]);
  const gpu::Tensor unmasked = model.encode(s, ids, {}, ids_t.shape[0]);
  s.finish();
  return {{"output.last_hidden_state", fixture_output(masked)},
          {"output.last_hidden_state_unmasked", fixture_output(unmasked)}};
}

const FixtureRegistrar t5("T5EncoderModel", [](const Fixture& fx) { return run(fx, false); });
const FixtureRegistrar umt5("UMT5EncoderModel", [](const Fixture& fx) { return run(fx, true); });

}  // namespace
}  // namespace lattice
