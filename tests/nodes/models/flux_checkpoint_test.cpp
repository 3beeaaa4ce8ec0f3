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

namespace lattice {
namespace {

namespace fs = std::filesystem;

HostTensor cat_rows(const std::vector<HostTensor>& parts) {
  HostTensor out = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    out.shape[0] += parts[i].shape[0];
    out.data.insert(out.data.end(), parts[i].data.begin(), parts[i].data.end());
  }
  return out;
}

// The inverse of convert_bfl_flux, written from BFL's module structure.
std::vector<std::pair<std::string, HostTensor>> to_bfl(const WeightSource& d, const FluxConfig& c) {
  std::vector<std::pair<std::string, HostTensor>> out;
  auto lin = [&](const std::string& to, const std::string& from) {
    out.emplace_back(to + ".weight", d.load(from + ".weight"));
    out.emplace_back(to + ".bias", d.load(from + ".bias"));
  };
  auto fused = [&](const std::string& to, const std::vector<std::string>& from) {
    for (const char* part : {".weight", ".bias"}) {
      std::vector<HostTensor> ps;
      for (const auto& f : from) ps.push_back(d.load(f + part));
      out.emplace_back(to + part, cat_rows(ps));
    }
  };
  lin("img_in", "x_embedder");
  lin("txt_in", "context_embedder");
  lin("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1");
  lin("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2");
  lin("vector_in.in_layer", "time_text_embed.text_embedder.linear_1");
  lin("vector_in.out_layer", "time_text_embed.text_embedder.linear_2");
  lin("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1");
  lin("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2");
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string b = "double_blocks." + std::to_string(i) + ".", t = "transformer_blocks." + std::to_string(i) + ".";
    lin(b + "img_mod.lin", t + "norm1.linear");
    lin(b + "txt_mod.lin", t + "norm1_context.linear");
    fused(b + "img_attn.qkv", {t + "attn.to_q", t + "attn.to_k", t + "attn.to_v"});
    fused(b + "txt_attn.qkv", {t + "attn.add_q_proj", t + "attn.add_k_proj", t + "attn.add_v_proj"});
    out.emplace_back(b + "img_attn.norm.query_norm.scale", d.load(t + "attn.norm_q.weight"));
    out.emplace_back(b + "img_attn.norm.key_norm.scale", d.load(t + "attn.norm_k.weight"));
    out.emplace_back(b + "txt_attn.norm.query_norm.scale", d.load(t + "attn.norm_added_q.weight"));
    out.emplace_back(b + "txt_attn.norm.key_norm.scale", d.load(t + "attn.norm_added_k.weight"));
    lin(b + "img_attn.proj", t + "attn.to_out.0");
    lin(b + "txt_attn.proj", t + "attn.to_add_out");
    lin(b + "img_mlp.0", t + "ff.net.0.proj");
    lin(b + "img_mlp.2", t + "ff.net.2");
    lin(b + "txt_mlp.0", t + "ff_context.net.0.proj");
    lin(b + "txt_mlp.2", t + "ff_context.net.2");
  }
  for (int i = 0; i < c.num_single_layers; ++i) {
    const std::string b = "single_blocks." + std::to_string(i) + ".", t = "single_transformer_blocks." + std::to_string(i) + ".";
    fused(b + "linear1", {t + "attn.to_q", t + "attn.to_k", t + "attn.to_v", t + "proj_mlp"});
    lin(b + "linear2", t + "proj_out");
    out.emplace_back(b + "norm.query_norm.scale", d.load(t + "attn.norm_q.weight"));
    out.emplace_back(b + "norm.key_norm.scale", d.load(t + "attn.norm_k.weight"));
    lin(b + "modulation.lin", t + "norm.linear");
  }
  lin("final_layer.linear", "proj_out");
  for (const char* part : {".weight", ".bias"}) {
    HostTensor t = d.load(std::string("norm_out.linear") + part);  // (scale, shift) -> BFL's (shift, scale)
    std::rotate(t.data.begin(), t.data.begin() + static_cast<std::ptrdiff_t>(t.data.size() / 2), t.data.end());
    out.emplace_back(std::string("final_layer.adaLN_modulation.1") + part, std::move(t));
  }
  return out;
}

TEST(FluxCheckpoint, BflLayoutComputesWhatTheDiffusersLayoutComputes) {
  Fixture fx(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_transformer.safetensors");
  const FluxConfig config = flux_config_from_json(fx.config());
  WeightSource diffusers = fixture_weights(fx);
  const auto bfl = to_bfl(diffusers, config);
  const fs::path dir = fs::temp_directory_path() / ("flux_bfl_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [n, t] : bfl) list.emplace_back(n, &t);
  write_safetensors(dir / "flux1-tiny.safetensors", list);

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
