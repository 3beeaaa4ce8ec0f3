// --run-fixture for LTXVideoTransformer3DModel: one forward from the stored config, weights and inputs
// (run.latent_fhw gives the token grid, run.rope_interpolation_scale the RoPE scale).
#include "core/error.h"
#include "nodes/models/fixture_device.h"
#include "nodes/models/ltx/transformer.h"

namespace lattice {

namespace {

FixtureOutputs run(const Fixture& fx) {
  const LtxTransformerConfig config = ltx_transformer_config_from_json(fx.config());
  std::array<int64_t, 3> fhw{};
  std::array<float, 3> scale{};
  try {
    for (size_t i = 0; i < 3; ++i) {
      fhw[i] = fx.run().at("latent_fhw").at(i).get<int64_t>();
      scale[i] = fx.run().at("rope_interpolation_scale").at(i).get<float>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw_invalid("LTXVideoTransformer3DModel fixture: run needs latent_fhw and rope_interpolation_scale (" +
                  std::string(e.what()) + ")");
  }
  FixtureShapes shapes(fx);
  shapes.bind("S", fhw[0] * fhw[1] * fhw[2], "run.latent_fhw");  // one token per latent pixel (patch 1)
  shapes.need("input.hidden_states", {"B", "S", config.in_channels})
      .need("input.encoder_hidden_states", {"B", "L", config.caption_channels})
      .need("input.timestep", {"B"})
      .need("output.sample", {"B", "S", config.out_channels});
  shapes.optional("input.encoder_attention_mask", {"B", "L"});
  FixtureDevice dev(fx, ltx_checkpoint_shapes(config));
  gpu::Context& ctx = dev.ctx;
  LtxTransformer model(config, dev.weights);

  const gpu::RopeTables rope = ltx_rope_tables(fhw[0], fhw[1], fhw[2], scale, config.inner_dim());
  gpu::CommandStream s(ctx);
  gpu::Tensor out = model.forward(s, upload_fixture_tensor(ctx, fx, "input.hidden_states"), upload_fixture_tensor(ctx, fx, "input.encoder_hidden_states"),
                                  fx.has("input.encoder_attention_mask") ? fx.f32("input.encoder_attention_mask") : std::vector<float>{},
                                  fx.f32("input.timestep"), gpu::Tensor::from_floats(ctx, rope.cos, {rope.length, rope.width}),
                                  gpu::Tensor::from_floats(ctx, rope.sin, {rope.length, rope.width}));
  s.finish();
  return {{"output.sample", fixture_output(out)}};
}

const FixtureRegistrar reg("LTXVideoTransformer3DModel", run);

}  // namespace
}  // namespace lattice
