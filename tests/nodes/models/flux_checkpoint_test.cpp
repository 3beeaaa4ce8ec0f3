// A FLUX transformer saved in BFL's original layout (fused qkv and linear1, (shift, scale) final modulation)
// loads through convert_bfl_flux and computes exactly what the diffusers-layout weights compute.
#include "nodes/models/flux/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "gpu/ops/rope.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/flux/transformer.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

TEST(FluxCheckpoint, BflLayoutComputesWhatTheDiffusersLayoutComputes) {
  Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_transformer.safetensors");
  const FluxConfig config = flux_config_from_json(fx.config());
  WeightSource diffusers = fixture_weights(fx);
  const fs::path dir = fs::temp_directory_path() / ("flux_bfl_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  test::write_flux_bfl(diffusers, dir / "flux1-tiny.safetensors");

  WeightSource w = WeightSource::open(dir / "flux1-tiny.safetensors");
  ASSERT_TRUE(w.has("img_in.weight") && w.has("double_blocks.0.img_attn.qkv.weight"));
  // Head dim 16 has no default RoPE split, so the config comes from the fixture (detection is covered by
  // flux_config_test.cpp with FLUX.1-dev's shapes).
  const FluxConfig detected = config;
  convert_bfl_flux(w, detected);
  // Every diffusers tensor is present with identical bytes.
  for (const auto& name : diffusers.names()) {
    if (name.rfind("input.", 0) == 0 || name.rfind("output.", 0) == 0 || name.rfind("intermediate.", 0) == 0) continue;
    ASSERT_TRUE(w.has(name)) << name;
    const auto a = w.bytes(name), b = diffusers.bytes(name);
    ASSERT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << name;
  }

  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  DeviceWeights weights(w, ctx);
  FluxTransformer model(detected, weights);
  auto up = [&](const char* n) { return upload_fixture_tensor(ctx, fx, n); };
  std::vector<float> ids = fx.f32("input.txt_ids");
  const auto img = fx.f32("input.img_ids");
  ids.insert(ids.end(), img.begin(), img.end());
  const int64_t axes[3] = {config.axes_dims_rope[0], config.axes_dims_rope[1], config.axes_dims_rope[2]};
  const gpu::RopeTables r = gpu::flux_rope_tables(ids, axes);
  gpu::CommandStream s(ctx);
  const gpu::Tensor out = model.forward(s, up("input.hidden_states"), up("input.encoder_hidden_states"), up("input.pooled_projections"),
                                        fx.f32("input.timestep"), fx.f32("input.guidance"),
                                        gpu::Tensor::from_floats(ctx, r.cos, {r.length, r.width}),
                                        gpu::Tensor::from_floats(ctx, r.sin, {r.length, r.width}));
  s.finish();
  const auto got = out.to_floats(), ref = fx.f32("output.sample");
  float err = 0;
  for (size_t i = 0; i < ref.size(); ++i) err = std::max(err, std::fabs(got[i] - ref[i]));
  EXPECT_LE(err, 1e-4f * 5.1f);
  fs::remove_all(dir);
}

TEST(FluxCheckpoint, MissingTensorIsNamed) {
  const fs::path f = fs::temp_directory_path() / ("flux_bfl_bad_" + std::to_string(::getpid()) + ".safetensors");
  HostTensor t = HostTensor::from_f32({4, 2}, {0, 0, 0, 0, 0, 0, 0, 0});
  write_safetensors(f, {{"img_in.weight", &t}});
  WeightSource w = WeightSource::open(f);
  FluxConfig c;
  try {
    convert_bfl_flux(w, c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor 'txt_in.weight'"), std::string::npos) << e.what();
  }
  fs::remove(f);
}

}  // namespace
}  // namespace lattice
