// FLUX.1 structural control against tests/golden/flux_control.safetensors (tools/make_flux_control_fixture.py, from
// the diffusers golden of the tiny FLUX transformer): a control checkpoint (x_embedder 128 wide) in the diffusers and
// BFL layouts is detected as one and its forward on the packed latents and control latents concatenated on channels
// (flux_control_input) matches the reference; a single-file BFL control checkpoint runs as its diffusers twin; a control
// LoRA in BFL and in diffusers names widens x_embedder and merges as diffusers does (zero columns, biases, norm scales set
// outright), a plain LoRA after it changes x_embedder's first columns, and streamed blocks merge it as resident ones.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <tuple>

#include "core/error.h"
#include "gpu/ops/patchify.h"
#include "gpu/ops/rope.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/flux/checkpoint.h"
#include "nodes/models/flux/sampler.h"
#include "nodes/models/lora.h"
#include "tests/support/gpu_limits.h"
#include "tests/support/tolerance.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
using Tensors = std::vector<std::pair<std::string, HostTensor>>;

void save(const fs::path& path, const Tensors& ts) {
  std::vector<std::pair<std::string, const HostTensor*>> list;
  for (const auto& [k, t] : ts) list.emplace_back(k, &t);
  fs::create_directories(path.parent_path());
  write_safetensors(path, list);
}

// max |got - want| <= 1e-4 · max(1, max |want|), the project tolerance.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  EXPECT_TRUE(test::within_tolerance(got, want)) << what;
}

class FluxControl : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("lattice_flux_control_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    env.set(std::make_shared<GpuService>());
  }
  void TearDown() override { fs::remove_all(dir); }
  gpu::Context& ctx() { return env.get<GpuService>()->context(); }

  // The fixture's tensors named `prefix`<key> as <key>, with `overrides` (<key> -> fixture tensor) replacing some.
  Tensors tensors(const std::string& prefix, const std::map<std::string, std::string>& overrides = {}) const {
    Tensors ts;
    for (const auto& t : fx.file().tensors()) {
      if (t.name.rfind(prefix, 0) != 0) continue;
      const std::string key = t.name.substr(prefix.size());
      const auto o = overrides.find(key);
      ts.emplace_back(key, fx.tensor(o == overrides.end() ? t.name : o->second));
    }
    return ts;
  }
  // A diffusers transformer folder of the fixture's weights (with overrides) and `in_channels`.
  fs::path write_model(const std::string& name, int in_channels, const std::map<std::string, std::string>& overrides = {}) const {
    save(dir / name / "diffusion_pytorch_model.safetensors", tensors("weights.", overrides));
    nlohmann::json c = fx.config();
    c["in_channels"] = in_channels;
    c["out_channels"] = 64;
    std::ofstream(dir / name / "config.json") << c.dump();
    return dir / name;
  }

  // One forward of `model` on the fixture's conditioning and the packed latents and control latents concatenated.
  std::vector<float> forward(FluxTransformer& model, const gpu::Tensor& latents, const gpu::Tensor& control,
                             std::vector<float>* hidden = nullptr) {
    gpu::Context& c = ctx();
    const int64_t h = latents.dim(2), w = latents.dim(3), txt = fx.tensor("input.encoder_hidden_states").shape[1];
    std::vector<float> ids(static_cast<size_t>(txt * 3), 0.0f);
    const auto img = flux_image_ids(h, w);
    ids.insert(ids.end(), img.begin(), img.end());
    const auto& a = model.config().axes_dims_rope;
    const int64_t axes[3] = {a[0], a[1], a[2]};
    const gpu::RopeTables rope = gpu::flux_rope_tables(ids, axes);
    gpu::CommandStream s(c);
    const gpu::Tensor x = flux_control_input(s, gpu::pack_latents(s, latents), gpu::pack_latents(s, control));
    const gpu::Tensor out = model.forward(s, x, upload_fixture_tensor(c, fx, "input.encoder_hidden_states"),
                                          upload_fixture_tensor(c, fx, "input.pooled_projections"), fx.f32("input.timestep"),
                                          fx.f32("input.guidance"), gpu::Tensor::from_floats(c, rope.cos, {rope.length, rope.width}),
                                          gpu::Tensor::from_floats(c, rope.sin, {rope.length, rope.width}));
    s.finish();
    if (hidden) *hidden = x.to_floats();
    return out.to_floats();
  }
  std::vector<float> forward(FluxTransformer& model, std::vector<float>* hidden = nullptr) {
    return forward(model, upload_fixture_tensor(ctx(), fx, "input.latents"), upload_fixture_tensor(ctx(), fx, "input.control"), hidden);
  }

  fs::path dir;
  Environment env;
  const Fixture fx{fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_control.safetensors"};
};

TEST_F(FluxControl, ControlCheckpointsInBothLayoutsMatchTheReference) {
  const fs::path diffusers = write_model("diffusers", 128, {{"x_embedder.weight", "control.x_embedder.weight"}});
  // The same weights in BFL's layout, with the config.json that a head dim of 16 needs for its RoPE axes.
  test::write_flux_bfl(WeightSource::open(diffusers), dir / "bfl" / "diffusion_pytorch_model.safetensors");
  fs::copy_file(diffusers / "config.json", dir / "bfl" / "config.json");
  for (const auto& [path, want_layout] : {std::pair{diffusers, FluxLayout::Diffusers}, std::pair{dir / "bfl", FluxLayout::BFL}}) {
    SCOPED_TRACE(path.string());
    WeightSource w = WeightSource::open(path);
    FluxLayout layout;
    const FluxConfig c = detect_flux_config(w, &layout);
    EXPECT_EQ(layout, want_layout);
    if (layout == FluxLayout::BFL) convert_bfl_flux(w, c);
    EXPECT_EQ(c.in_channels, 128);
    EXPECT_EQ(c.out_channels, 64);
    EXPECT_EQ(c.control_channels(), 64);
    DeviceWeights dw(w, ctx());
    FluxTransformer model(c, dw);
    std::vector<float> hidden;
    expect_close(forward(model, &hidden), fx.f32("output.sample"), "output.sample");
    expect_close(hidden, fx.f32("output.hidden_states"), "output.hidden_states");
  }
  // A plain FLUX takes no control channels.
  EXPECT_EQ(detect_flux_config(WeightSource::open(write_model("base", 64))).control_channels(), 0);
}

// FLUX.1's head dim (128) needs no config.json: a BFL single file, as flux1-canny-dev.safetensors is one.
TEST_F(FluxControl, SingleFileBflControlCheckpointRunsAsItsDiffusersTwin) {
  test::write_random_flux(dir / "twin", 1, 1, 1, 11, 128, 128);
  test::write_flux_bfl(WeightSource::open(dir / "twin"), dir / "flux1-canny-tiny.safetensors");
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> lat(16 * 4 * 6), con(16 * 4 * 6);
  for (auto* v : {&lat, &con})
    for (float& x : *v) x = normal(rng);
  std::vector<std::vector<float>> outs;
  for (const fs::path& p : {dir / "twin", dir / "flux1-canny-tiny.safetensors"}) {
    WeightSource w = WeightSource::open(p);
    FluxLayout layout;
    FluxConfig c = detect_flux_config(w, &layout);
    if (layout == FluxLayout::BFL) convert_bfl_flux(w, c);
    ASSERT_EQ(c.control_channels(), 64);
    DeviceWeights dw(w, ctx());
    FluxTransformer model(c, dw);
    gpu::Context& g = ctx();
    std::vector<float> text(7 * 64), pooled(32);
    for (auto* v : {&text, &pooled})
      for (float& x : *v) x = 0.5f;
    gpu::CommandStream s(g);
    const gpu::Tensor x = flux_control_input(s, gpu::pack_latents(s, gpu::Tensor::from_floats(g, lat, {1, 16, 4, 6})),
                                             gpu::pack_latents(s, gpu::Tensor::from_floats(g, con, {1, 16, 4, 6})));
    std::vector<float> ids(7 * 3, 0.0f);
    const auto img = flux_image_ids(4, 6);
    ids.insert(ids.end(), img.begin(), img.end());
    const int64_t axes[3] = {16, 56, 56};
    const gpu::RopeTables rope = gpu::flux_rope_tables(ids, axes);
    const gpu::Tensor out = model.forward(s, x, gpu::Tensor::from_floats(g, text, {1, 7, 64}), gpu::Tensor::from_floats(g, pooled, {1, 32}),
                                          {0.5f}, {3.5f}, gpu::Tensor::from_floats(g, rope.cos, {rope.length, rope.width}),
                                          gpu::Tensor::from_floats(g, rope.sin, {rope.length, rope.width}));
    s.finish();
    outs.push_back(out.to_floats());
  }
  EXPECT_EQ(outs[0], outs[1]);
}

TEST_F(FluxControl, ControlLorasInBflAndDiffusersNamesMergeAsTheReference) {
  const float strength = fx.run().at("strength").get<float>();
  const auto base = std::make_shared<WeightSource>(WeightSource::open(write_model("base", 64)));
  for (const char* naming : {"lora_bfl.", "lora_diffusers."}) {
    SCOPED_TRACE(naming);
    save(dir / (std::string(naming) + "safetensors"), tensors(naming));
    const WeightSource lora = WeightSource::open(dir / (std::string(naming) + "safetensors"));
    FluxLoraResult r = apply_flux_lora(lora, base, nullptr, strength);
    EXPECT_EQ(r.in_channels, 128);
    EXPECT_EQ(base->info("x_embedder.weight").shape[1], 64);  // the base model is unchanged
    auto patches = std::make_shared<WeightPatches>(r.patches);
    DeviceWeights dw(*r.weights, ctx(), patches);
    size_t n = 0;
    for (const std::string& out : fx.output_names()) {
      if (out.rfind("output.merged.", 0) != 0) continue;
      const std::string name = out.substr(14);
      const auto got = r.weights->info(name).shape.size() == 2 ? dw.matrix(name).to_floats() : dw.f32(name).to_floats();
      expect_close(got, fx.f32(out), name);
      ++n;
    }
    EXPECT_EQ(n, 25u);
    // At strength 0 the model is left as it was (as ComfyUI's LoraLoader does): no widened view, no norm scales
    // set, no patches beyond the earlier ones; so flux.sample refuses a control input for it (check_flux_control).
    const WeightPatches earlier = {r.patches.front()};
    const FluxLoraResult zero = apply_flux_lora(lora, base, &earlier, 0.0f);
    EXPECT_EQ(zero.weights, base);
    EXPECT_EQ(zero.in_channels, 64);
    ASSERT_EQ(zero.patches.size(), 1u);
    EXPECT_EQ(zero.patches[0].target, earlier[0].target);

    // A plain LoRA on x_embedder (64 columns) after it changes the first columns of the widened layer.
    const HostTensor a = HostTensor::from_f32({1, 64}, std::vector<float>(64, 0.25f)), b = HostTensor::from_f32({32, 1}, std::vector<float>(32, 2.0f));
    save(dir / "plain.safetensors", {{"x_embedder.lora_A.weight", a}, {"x_embedder.lora_B.weight", b}});
    const FluxLoraResult r2 = apply_flux_lora(WeightSource::open(dir / "plain.safetensors"), r.weights, &r.patches, 1.0f);
    EXPECT_EQ(r2.in_channels, 128);
    DeviceWeights dw2(*r2.weights, ctx(), std::make_shared<WeightPatches>(r2.patches));
    std::vector<float> want = fx.f32("output.merged.x_embedder.weight");
    for (size_t o = 0; o < 32; ++o)
      for (size_t i = 0; i < 64; ++i) want[o * 128 + i] += 0.5f;
    expect_close(dw2.matrix("x_embedder.weight").to_floats(), want, "x_embedder after a plain LoRA");
  }
}

// A control LoRA on a model whose last blocks stream: streamed blocks get the widened input, the merged factors and
// the set norm scales as resident ones do, bit for bit.
TEST_F(FluxControl, StreamedBlocksMergeAControlLoraAsResidentOnes) {
  test::write_random_flux(dir / "base", 3, 4, 3);  // width 192
  std::mt19937 rng(9);
  std::normal_distribution<float> normal;
  auto random = [&](std::vector<int64_t> shape, float scale, float offset = 0) {
    std::vector<float> v(static_cast<size_t>(shape[0] * (shape.size() > 1 ? shape[1] : 1)));
    for (float& x : v) x = offset + scale * normal(rng);
    return HostTensor::from_f32(shape, v);
  };
  save(dir / "control-lora.safetensors", {{"img_in.lora_A.weight", random({2, 128}, 0.3f)},
                                          {"img_in.lora_B.weight", random({192, 2}, 0.3f)},
                                          {"img_in.lora_B.bias", random({192}, 0.1f)},
                                          {"single_blocks.3.linear1.lora_A.weight", random({2, 192}, 0.1f)},
                                          {"single_blocks.3.linear1.lora_B.weight", random({3 * 192 + 768, 2}, 0.1f)},
                                          {"single_blocks.3.norm.key_norm.scale", random({64}, 0.1f, 1.0f)}});
  const FluxLoraResult r = apply_flux_lora(WeightSource::open(dir / "control-lora.safetensors"),
                                           std::make_shared<WeightSource>(WeightSource::open(dir / "base")), nullptr, 1.0f);
  ASSERT_EQ(r.in_channels, 128);
  const auto patches = std::make_shared<const WeightPatches>(r.patches);
  auto run = [&](uint64_t budget_mib, BlockStreamStats* stats) {
    if (budget_mib) setenv("LATTICE_GPU_BUDGET_MB", std::to_string(budget_mib).c_str(), 1);
    const std::shared_ptr<GpuService> gpu = test::gpu_with_buffer_limit(0);
    gpu::Context& g = gpu->context();
    unsetenv("LATTICE_GPU_BUDGET_MB");
    FluxConfig c = detect_flux_config(*r.weights);
    c.in_channels = r.in_channels;
    DeviceWeights dw(*r.weights, g, patches);
    FluxTransformer model(c, dw);
    std::mt19937 local(3);
    std::normal_distribution<float> nd;
    auto tensor = [&](gpu::Shape shape) {
      std::vector<float> v(static_cast<size_t>(gpu::numel(shape)));
      for (auto& x : v) x = nd(local);
      return gpu::Tensor::from_floats(g, v, shape);
    };
    const gpu::Tensor latents = tensor({1, 12, 64}), control = tensor({1, 12, 64});
    const FluxConditioning cond{tensor({1, 7, 64}), tensor({1, 32})};
    FluxSamplerOptions o;
    o.steps = 2;
    // What everything resident needs: what is in use now, the activations and every block.
    uint64_t need = g.allocator().current_device_bytes() + flux_activation_bytes(c, 1, 12, 7);
    for (uint64_t b : block_device_bytes(*r.weights, flux_block_prefixes(c))) need += b;
    const std::vector<float> out = flux_sample(model, g, latents, 8, 6, cond, nullptr, o, {}, nullptr, {}, &control).to_floats();
    if (stats) *stats = model.stream_stats();
    return std::pair{out, need};
  };
  BlockStreamStats resident_stats, streamed_stats;
  const auto [resident, need] = run(0, &resident_stats);
  EXPECT_EQ(resident_stats.plan.slots, 0);
  // Two MiB less than everything resident needs: the last blocks stream.
  const auto [streamed, unused] = run(need / (1 << 20) - 2, &streamed_stats);
  EXPECT_GT(streamed_stats.plan.slots, 0);
  EXPECT_EQ(streamed, resident);

}

// A control LoRA is checked whole at strength 0 too, against the widened x_embedder it would make: a factor that
// fits neither the widened nor the plain layer, and a widening to other than twice the latent channels, are refused.
TEST_F(FluxControl, AControlLoraAtStrengthZeroIsCheckedAsAtAnyOther) {
  const auto base = std::make_shared<WeightSource>(WeightSource::open(write_model("base", 64)));
  const int64_t inner = base->info("x_embedder.weight").shape[0];
  auto filled = [](std::vector<int64_t> shape) {
    return HostTensor::from_f32(shape, std::vector<float>(static_cast<size_t>(HostTensor{DType::F32, shape, {}}.numel()), 0.1f));
  };
  for (const auto& [a, b, needle] : {std::tuple{filled({2, 128}), filled({inner + 1, 2}), std::string("have " + std::to_string(inner) + " rows")},
                                     std::tuple{filled({2, 96}), filled({inner, 2}), std::string("widens x_embedder from 64 to 96")}}) {
    save(dir / "bad.safetensors", {{"img_in.lora_A.weight", a}, {"img_in.lora_B.weight", b}});
    for (float strength : {0.0f, 1.0f}) {
      try {
        (void)apply_flux_lora(WeightSource::open(dir / "bad.safetensors"), base, nullptr, strength);
        ADD_FAILURE() << "no error at strength " << strength << " for " << needle;
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      }
    }
  }
  // A good one at strength 0 makes nothing new.
  save(dir / "good.safetensors", {{"img_in.lora_A.weight", filled({2, 128})}, {"img_in.lora_B.weight", filled({inner, 2})}});
  const FluxLoraResult r = apply_flux_lora(WeightSource::open(dir / "good.safetensors"), base, nullptr, 0.0f);
  EXPECT_EQ(r.weights, base);
  EXPECT_EQ(r.in_channels, 64);
  EXPECT_TRUE(r.patches.empty());
}

// check_flux_control is the one check of a control input (flux.sample calls it before loading the model): every
// disagreement is InvalidInput naming it, in packed and unpacked layouts alike.
TEST(FluxControlCheck, EveryMismatchIsInvalidInputNamingIt) {
  FluxConfig control, plain, fill;
  control.in_channels = 128;
  fill.in_channels = 96;
  const gpu::Shape latents{1, 16, 8, 6}, packed{1, 12, 64}, small{1, 16, 4, 6}, narrow{1, 12, 32};
  auto message = [](const FluxConfig& c, const gpu::Shape& l, const gpu::Shape* ctl) {
    try {
      check_flux_control(c, l, ctl);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NO_THROW(check_flux_control(control, latents, &latents));
  EXPECT_NO_THROW(check_flux_control(control, packed, &packed));
  EXPECT_NO_THROW(check_flux_control(plain, latents, nullptr));
  EXPECT_NE(message(control, latents, nullptr).find("structural-control model (x_embedder takes 128 channels: 64 latent + 64 control)"),
            std::string::npos);
  EXPECT_NE(message(plain, latents, &latents).find("input 'control' is connected, but the transformer has no control channels"),
            std::string::npos);
  EXPECT_NE(message(plain, latents, &latents).find("at a strength other than 0"), std::string::npos);
  for (const std::string& m : {message(control, latents, &small), message(control, packed, &narrow)})
    EXPECT_NE(m.find("differ in shape"), std::string::npos) << m;
  EXPECT_NE(message(control, latents, &small).find("control latents [1, 16, 4, 6] and noise [1, 16, 8, 6]"), std::string::npos);
  EXPECT_NE(message(fill, latents, nullptr).find("other conditioned FLUX variants"), std::string::npos);
}

}  // namespace
}  // namespace lattice
