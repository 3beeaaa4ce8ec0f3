// --run-fixture for FluxTransformer2DModel: one forward from the stored config, weights and inputs.
#include "core/error.h"
#include "nodes/models/fixture_device.h"
#include "nodes/models/flux/transformer.h"
#include "gpu/ops/rope.h"

namespace lattice {

namespace {

FixtureOutputs run(const Fixture& fx) {
  const FluxConfig config = flux_config_from_json(fx.config());
  FixtureDevice dev(fx);
  gpu::Context& ctx = dev.ctx;
  FluxTransformer model(config, dev.weights);

  const HostTensor img_ids = fx.tensor("input.img_ids"), txt_ids = fx.tensor("input.txt_ids");
  if (img_ids.shape.size() != 2 || txt_ids.shape.size() != 2)
    throw_invalid("FluxTransformer2DModel fixture: only 2-D ids are supported (ids_ndim 2)");
  std::vector<float> ids = txt_ids.to_f32();
  const auto img = img_ids.to_f32();
  ids.insert(ids.end(), img.begin(), img.end());
  const int64_t tokens = txt_ids.shape[0] + img_ids.shape[0];
  const int64_t axes[3] = {config.axes_dims_rope[0], config.axes_dims_rope[1], config.axes_dims_rope[2]};
  const gpu::RopeTables rope = gpu::flux_rope_tables(ids, axes);

  gpu::CommandStream s(ctx);
  auto upload = [&](const char* name) { return upload_fixture_tensor(ctx, fx, name); };
  gpu::Tensor out = model.forward(s, upload("input.hidden_states"), upload("input.encoder_hidden_states"),
                                  upload("input.pooled_projections"), fx.f32("input.timestep"),
                                  fx.has("input.guidance") ? fx.f32("input.guidance") : std::vector<float>{},
                                  gpu::Tensor::from_floats(ctx, rope.cos, {tokens, rope.width}),
                                  gpu::Tensor::from_floats(ctx, rope.sin, {tokens, rope.width}));
  s.finish();
  return {{"output.sample", fixture_output(out)}};
}

const FixtureRegistrar reg("FluxTransformer2DModel", run);

}  // namespace
}  // namespace lattice
