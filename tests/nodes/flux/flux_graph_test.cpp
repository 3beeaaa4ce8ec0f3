// The FLUX text-to-image graph as a user builds it (load transformer and VAE from diffusers folders, sample,
// decode), on a tiny random FLUX written from the reference fixture: the rendered image must match what
// diffusers' FluxPipeline produced for the same embeddings and noise.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/document.h"
#include "core/engine.h"
#include "core/types/image.h"
#include "nodes/gpu_service.h"
#include "core/safetensors.h"
#include "gpu/ops/patchify.h"
#include "nodes/models/fixture.h"
#include "nodes/models/flux/sampler.h"
#include "nodes/types/model_handles.h"
#include "nodes/types/tensor_value.h"
#include "tests/support/tolerance.h"
#include "tests/support/gpu_limits.h"
#include "tests/support/render_info.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class FluxGraph : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("lattice_flux_graph_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    reference = test::write_tiny_flux(dir);  // a diffusers pipeline folder: transformer/ and vae/
    opts.base_dir = dir;
    opts.output_dir = dir;
    env.set(std::make_shared<GpuService>());
    opts.env = &env;
  }
  void TearDown() override { fs::remove_all(dir); }

  fs::path dir;
  HostTensor reference;
  RenderOptions opts;
  Environment env;
};

const char* kGraph = R"({"lattice": 1, "nodes": [
  {"id": "inputs", "type": "tensor.load", "params": {"path": "inputs.safetensors"}},
  {"id": "noise_t", "type": "tensor.load", "params": {"path": "inputs.safetensors", "name": "noise"}},
  {"id": "cond", "type": "conditioning.from_tensors", "inputs": {"tensors": {"node": "inputs", "output": "tensors"}}},
  {"id": "noise", "type": "latent.from_tensor", "inputs": {"tensor": {"node": "noise_t", "output": "tensor"}}},
  {"id": "dit", "type": "flux.load_transformer", "params": {"path": "tiny-flux"}},
  {"id": "vae", "type": "vae.load", "params": {"path": "tiny-flux"}},
  {"id": "sample", "type": "flux.sample", "params": {"steps": 4, "guidance": 3.5},
   "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "cond", "output": "conditioning"},
              "noise": {"node": "noise", "output": "latent"}}},
  {"id": "decode", "type": "vae.decode", "inputs": {"vae": {"node": "vae", "output": "vae"}, "latent": {"node": "sample", "output": "latent"}}},
  {"id": "save", "type": "image.save", "params": {"path": "flux.exr", "depth": "float"}, "inputs": {"image": {"node": "decode", "output": "image"}}}
]})";

TEST_F(FluxGraph, RendersWhatTheReferencePipelineRenders) {
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  auto img = std::dynamic_pointer_cast<const ImageData>(e.evaluate(g, "decode", "image", opts));
  ASSERT_TRUE(img);
  ASSERT_EQ(img->width, 48);
  ASSERT_EQ(img->height, 64);
  float max_err = 0;
  const auto ref = reference.to_f32();  // [1, 3, 64, 48]
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 48; ++x)
        max_err = std::max(max_err, std::fabs(img->at(x, y, c) - ref[(static_cast<size_t>(c) * 64 + y) * 48 + x]));
  EXPECT_LE(max_err, 1e-4f);

  // The whole graph renders and writes the image; then a sampler change re-runs only sampling and decoding.
  auto r = e.render(g, opts);
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_TRUE(fs::exists(dir / "flux.exr"));
  g.find("sample")->params["guidance"] = 2.0;
  r = e.render(g, opts);
  for (const auto& n : r.nodes) {
    const bool reran = n.id == "sample" || n.id == "decode" || n.id == "save";
    EXPECT_EQ(n.status, reran ? "executed" : "cached") << n.id;
  }
}

TEST_F(FluxGraph, DryRunPlansWithoutLoadingWeights) {
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  auto rows = e.plan(g, opts);
  bool saw_dit = false;
  for (const auto& row : rows)
    if (row.id == "dit") {
      saw_dit = true;
      EXPECT_GT(row.outputs[0].second.weight_bytes, 0u);
      EXPECT_NE(row.outputs[0].second.shape.find("FLUX transformer 1+2 blocks"), std::string::npos) << row.outputs[0].second.shape;
    }
  EXPECT_TRUE(saw_dit);
  EXPECT_FALSE(env.get<GpuService>()->started());
}

TEST_F(FluxGraph, MismatchedInputsGiveClearErrors) {
  Graph g = parse_graph(kGraph);
  g.find("dit")->params["path"] = "inputs.safetensors";  // not a transformer
  MemoryCache mem;
  Engine e(&mem);
  try {
    e.render(g, opts);
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(err.what()).find("not a FLUX transformer checkpoint"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {

TEST_F(FluxGraph, StepCachingSkipsStepsAndSaysHowMany) {
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  auto skipped = [&](double threshold) {
    g.find("sample")->params["cache_threshold"] = threshold;
    RenderOptions o = opts;
    o.targets = {"decode"};
    const RenderReport r = e.render(g, o);
    for (const auto& n : r.nodes)
      if (n.id == "sample") return std::pair{n.info.value("skipped_steps", -1), n.info.value("steps", -1)};
    return std::pair{-1, -1};
  };
  EXPECT_EQ(skipped(0.0), (std::pair{0, 4}));
  auto exact = std::dynamic_pointer_cast<const ImageData>(e.evaluate(g, "decode", "image", opts));
  // A threshold no change reaches: every step after the first reuses the first step's residual.
  EXPECT_EQ(skipped(10.0), (std::pair{3, 4}));
  auto cached = std::dynamic_pointer_cast<const ImageData>(e.evaluate(g, "decode", "image", opts));
  ASSERT_EQ(cached->pixels.size(), exact->pixels.size());
  bool differs = false;
  for (size_t i = 0; i < exact->pixels.size(); ++i) {
    ASSERT_TRUE(std::isfinite(cached->pixels[i]));
    differs |= cached->pixels[i] != exact->pixels[i];
  }
  EXPECT_TRUE(differs);
  // A threshold between the steps' changes skips some steps but not all. Measured on this model (skipped of
  // 3): 0 up to 0.2, 1 at 0.3, 2 from 0.5 to 0.8, 3 from 1.2; 0.5 is inside the 2-step range.
  const auto some = skipped(0.5);
  EXPECT_EQ(some.second, 4);
  EXPECT_GT(some.first, 0);
  EXPECT_LT(some.first, 3);
}

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {

/// Collects previews, as the editor's viewer would.
struct PreviewWatcher : Observer {
  bool want = true;
  std::vector<std::tuple<std::string, int, int, std::shared_ptr<const ImageData>>> seen;
  bool wants_previews() const override { return want; }
  void node_preview(const std::string& id, int step, int total, std::shared_ptr<const ImageData> image) override {
    seen.emplace_back(id, step, total, std::move(image));
  }
};

TEST_F(FluxGraph, SamplerSendsAPreviewPerStepOnlyWhenWatched) {
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  PreviewWatcher watcher;
  watcher.want = false;
  RenderOptions o = opts;
  o.targets = {"sample"};
  o.observer = &watcher;
  e.render(g, o);
  EXPECT_TRUE(watcher.seen.empty());

  // Watched, with the VAE connected for true colour: one latent-sized (48x64 / 8 = 6x8) RGB preview per step.
  watcher.want = true;
  g.find("sample")->inputs["preview_vae"] = {"vae", "vae"};
  mem.clear();
  e.render(g, o);
  ASSERT_EQ(watcher.seen.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const auto& [id, step, total, img] = watcher.seen[i];
    EXPECT_EQ(id, "sample");
    EXPECT_EQ(step, i + 1);
    EXPECT_EQ(total, 4);
    ASSERT_TRUE(img);
    EXPECT_EQ(img->width, 6);
    EXPECT_EQ(img->height, 8);
    EXPECT_EQ(img->channels, 3);
    for (float v : img->pixels) ASSERT_TRUE(v >= 0.0f && v <= 1.0f);
  }
}

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {

TEST_F(FluxGraph, DecodeTilesByItselfWhenTheWholeImageWouldNotFitABuffer) {
  // 64 KiB per buffer: the tiny VAE's widest decoder activation is 4 KiB per latent pixel, so the 6x8 latent
  // (192 KiB whole) must be decoded in tiles of 3x3 latent pixels.
  Environment small;
  small.set(test::gpu_with_buffer_limit(65536));
  RenderOptions o = opts;
  o.env = &small;
  o.targets = {"decode"};
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  const RenderReport r = e.render(g, o);
  int auto_tile = -1;
  for (const auto& n : r.nodes)
    if (n.id == "decode") auto_tile = n.info.value("auto_tile", -1);
  EXPECT_EQ(auto_tile, 3);
  auto img = std::dynamic_pointer_cast<const ImageData>(e.evaluate(g, "decode", "image", o));
  ASSERT_TRUE(img);
  EXPECT_EQ(img->width, 48);
  EXPECT_EQ(img->height, 64);
  for (float v : img->pixels) ASSERT_TRUE(std::isfinite(v));
}

// The decode's plan tiles as the run does under each budget it plans for (kl_decode_tiling, one decision for
// both): the tiny VAE's largest decoder tensor is 4 KiB per latent pixel, so a budget of 64 x 1.1 x 4 KiB x 16
// (the largest tensor within a 64th of it) leaves 4x4-latent tiles for the 6x8 latent (3 rows of 2, overlap
// 1: a quarter of the tile), and a
// generous budget the whole latent. The plan shows the tiling and counts the working set of one tile.
TEST_F(FluxGraph, DecodePlanTilesAsTheRunDoesAtEachBudget) {
  const uint64_t tight = 4700000, roomy = uint64_t{1} << 30;
  Graph g = parse_graph(kGraph);
  RenderOptions plan = opts;
  plan.targets = {"decode"};
  plan.plan_budgets = {tight, roomy};
  MemoryCache mem;
  Engine e(&mem);
  PlanInfo p;
  for (const auto& row : e.plan(g, plan))
    if (row.id == "decode") p = row.outputs[0].second;
  ASSERT_TRUE(p.meta.contains("by_budget")) << p.meta.dump();
  const Json& at = p.meta["by_budget"];
  ASSERT_EQ(at.size(), 2u);
  EXPECT_EQ(at[0]["tile"], 4);
  EXPECT_EQ(at[0]["tiles"], 6);
  EXPECT_EQ(at[1]["tile"], 0);
  EXPECT_EQ(at[1]["tiles"], 1);
  EXPECT_NE(p.shape.find("3x2 tiles of 4x4 latent px at"), std::string::npos) << p.shape;
  EXPECT_NE(p.shape.find("whole at 1 GiB"), std::string::npos) << p.shape;
  AutoencoderKLConfig tiny;  // the golden pipeline's VAE widths
  tiny.block_out_channels = {8, 16, 16, 16};
  EXPECT_EQ(at[0]["activation_bytes"].get<uint64_t>(), tiny.decode_working_set_bytes(4, 4));
  EXPECT_EQ(p.activation_bytes, tiny.decode_working_set_bytes(8, 6));

  // The run under the tight budget takes the planned tile (its cache and engine die before its device).
  Environment lean;
  lean.set(test::gpu_with_buffer_limit(0));
  lean.get<GpuService>()->context().allocator().set_budget(tight);
  RenderOptions run = opts;
  run.env = &lean;
  run.targets = {"decode"};
  MemoryCache lean_mem;
  Engine lean_engine(&lean_mem);
  EXPECT_EQ(test::node_info(lean_engine.render(g, run), "decode").value("auto_tile", -1), 4);
}

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {

// Image-to-image: the first step taken is the one the strength implies (flux_start_step), the sampler starts
// from the image latents noised to that step's sigma (scale_noise: sigma*noise + (1-sigma)*image), and
// strength 1 ignores the image (text-to-image).
TEST_F(FluxGraph, ImageToImageStartsFromTheImageNoisedToTheFirstStepsSigma) {
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  auto noise = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "noise", "latent", opts));
  ASSERT_TRUE(noise);
  const std::vector<int64_t> shape = noise->shape();  // [1, 16, 8, 6]
  std::vector<float> image(static_cast<size_t>(gpu::numel(shape)));
  for (size_t i = 0; i < image.size(); ++i) image[i] = 0.8f * std::sin(0.23f * static_cast<float>(i));
  const HostTensor image_t = HostTensor::from_f32(shape, image);
  write_safetensors(dir / "image.safetensors", {{"image", &image_t}});
  auto text_to_image = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "sample", "latent", opts));
  // The graph with the image's latents (from a file) connected to the sampler's 'image' input.
  std::string with_image = kGraph;
  const std::string noise_node = R"({"id": "noise", "type")";
  with_image.insert(with_image.find(noise_node), R"({"id": "image_t", "type": "tensor.load", "params": {"path": "image.safetensors", "name": "image"}},
  {"id": "image", "type": "latent.from_tensor", "inputs": {"tensor": {"node": "image_t", "output": "tensor"}}},
  )");
  const std::string sample_noise = R"("noise": {"node": "noise", "output": "latent"}}})";
  ASSERT_NE(with_image.find(sample_noise), std::string::npos);
  with_image.replace(with_image.find(sample_noise), sample_noise.size(),
                     R"("noise": {"node": "noise", "output": "latent"}, "image": {"node": "image", "output": "latent"}}})");
  Graph img = parse_graph(with_image);
  img.find("sample")->params["strength"] = 1.0;
  auto full = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(img, "sample", "latent", opts));
  EXPECT_EQ(full->host().to_f32(), text_to_image->host().to_f32());

  img.find("sample")->params["strength"] = 0.5;
  RenderOptions o = opts;
  o.targets = {"sample"};
  const RenderReport report = e.render(img, o);
  for (const auto& n : report.nodes)
    if (n.id == "sample") {
      EXPECT_EQ(n.info.value("steps", -1), 2);
    }
  auto got = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(img, "sample", "latent", opts));
  ASSERT_TRUE(got);

  // By hand: 4 steps at strength 0.5 start at step 2; noise the image to sigmas[2] on the host.
  FluxSamplerOptions so;
  so.steps = 4;
  so.guidance = 3.5f;
  so.strength = 0.5;
  ASSERT_EQ(flux_start_step(so), 2);
  const float sigma = flux_schedule(so, shape[2], shape[3]).sigmas[2];
  ASSERT_GT(sigma, 0.1f);
  ASSERT_LT(sigma, 0.9f);
  const std::vector<float> z = noise->host().to_f32();
  std::vector<float> start(z.size());
  for (size_t i = 0; i < z.size(); ++i) start[i] = sigma * z[i] + (1.0f - sigma) * image[i];
  auto dit = std::dynamic_pointer_cast<const FluxTransformerHandle>(e.evaluate(img, "dit", "dit", opts));
  auto cond = std::dynamic_pointer_cast<const ConditioningData>(e.evaluate(img, "cond", "conditioning", opts));
  gpu::Context& gc = env.get<GpuService>()->context();
  const FluxConditioning c{gpu::Tensor::from_floats(gc, cond->prompt_embeds.to_f32(), cond->prompt_embeds.shape),
                           gpu::Tensor::from_floats(gc, cond->pooled.to_f32(), cond->pooled.shape)};
  gpu::CommandStream s(gc);
  const gpu::Tensor packed = gpu::pack_latents(s, gpu::Tensor::from_floats(gc, start, shape));
  s.finish();
  const gpu::Tensor out = flux_sample(dit->model(gc), gc, packed, shape[2], shape[3], c, nullptr, so);
  gpu::CommandStream u(gc);
  const gpu::Tensor want = gpu::unpack_latents(u, out, shape[2], shape[3]);
  u.finish();
  EXPECT_TRUE(test::within_tolerance(got->host().to_f32(), want.to_floats()));
  // The image matters: the result is not the text-to-image one.
  float diff = 0;
  const auto a = got->host().to_f32(), b = text_to_image->host().to_f32();
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::fabs(a[i] - b[i]));
  EXPECT_GT(diff, 0.05f);
}

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {

// A transformer without a guidance embedding (FLUX.1-schnell's config) under flux.sample's default schedule
// 'auto': the run takes schnell's schedule (no shift) as an explicit 'schnell' does, not dev's, and ignores
// 'guidance' as diffusers' FluxPipeline does (it passes none to such a transformer); the plan says both. A
// transformer with one gets dev's schedule under 'auto'.
TEST_F(FluxGraph, AutoScheduleFollowsTheTransformer) {
  test::write_random_flux(dir / "schnell", 1, 1, 2, 11, 64, 64, /*guidance_embeds=*/false);
  test::write_random_flux(dir / "dev", 1, 1, 2, 11);
  std::vector<float> embeds(static_cast<size_t>(24 * 64)), pooled(32);
  for (size_t i = 0; i < embeds.size(); ++i) embeds[i] = static_cast<float>(i % 13) / 13.0f - 0.5f;
  for (size_t i = 0; i < pooled.size(); ++i) pooled[i] = static_cast<float>(i % 5) / 5.0f;
  const HostTensor e = HostTensor::from_f32({1, 24, 64}, embeds), p = HostTensor::from_f32({1, 32}, pooled);
  write_safetensors(dir / "prompt.safetensors", {{"prompt_embeds", &e}, {"pooled_prompt_embeds", &p}});
  // Current format: 'schedule' left out means 'auto'.
  Graph g = parse_graph(R"({"lattice": )" + std::to_string(kLatticeFormatVersion) + R"(, "nodes": [
    {"id": "inputs", "type": "tensor.load", "params": {"path": "prompt.safetensors"}},
    {"id": "cond", "type": "conditioning.from_tensors", "inputs": {"tensors": {"node": "inputs", "output": "tensors"}}},
    {"id": "noise", "type": "latent.noise", "params": {"width": 64, "height": 64, "seed": 3}},
    {"id": "dit", "type": "flux.load_transformer", "params": {"path": "schnell"}},
    {"id": "sample", "type": "flux.sample", "params": {"steps": 4, "guidance": 3.5},
     "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "cond", "output": "conditioning"},
                "noise": {"node": "noise", "output": "latent"}}}]})");
  ASSERT_FALSE(g.find("sample")->params.contains("schedule"));
  MemoryCache mem;
  Engine eng(&mem);
  // The sampled latents with `params` set, checking the schedule the run reports.
  auto latent = [&](const Json& params, const std::string& expect) {
    for (const auto& [k, v] : params.items()) g.find("sample")->params[k] = v;
    mem.clear();
    RenderOptions o = opts;
    o.targets = {"sample"};
    EXPECT_EQ(test::node_info(eng.render(g, o), "sample").value("schedule", ""), expect);
    return std::dynamic_pointer_cast<const TensorValue>(eng.evaluate(g, "sample", "latent", opts))->host().to_f32();
  };
  const std::string schnell_note = "schnell schedule, no guidance embedding: 'guidance' unused";
  const auto automatic = latent(Json::object(), schnell_note);
  const auto schnell = latent({{"schedule", "schnell"}}, schnell_note);
  const auto dev = latent({{"schedule", "dev"}}, "dev schedule, no guidance embedding: 'guidance' unused");
  EXPECT_EQ(automatic, schnell);
  EXPECT_NE(automatic, dev);
  for (float v : automatic) ASSERT_TRUE(std::isfinite(v));
  // Guidance changes nothing without a guidance embedding.
  EXPECT_EQ(latent({{"schedule", "auto"}, {"guidance", 9.0}}, schnell_note), automatic);

  // The dry run names the schedule the run takes.
  auto planned = [&] {
    for (const auto& row : eng.plan(g, opts))
      if (row.id == "sample") return row.outputs[0].second.shape;
    return std::string();
  };
  EXPECT_NE(planned().find(schnell_note), std::string::npos) << planned();

  // With a guidance embedding, 'auto' is dev's schedule, and guidance counts.
  g.find("dit")->params["path"] = "dev";
  const auto dev_auto = latent({{"guidance", 3.5}}, "dev schedule");
  EXPECT_NE(planned().find(", dev schedule"), std::string::npos) << planned();
  EXPECT_EQ(dev_auto, latent({{"schedule", "dev"}}, "dev schedule"));
  EXPECT_NE(dev_auto, latent({{"schedule", "schnell"}}, "schnell schedule"));
  EXPECT_NE(latent({{"schedule", "auto"}, {"guidance", 9.0}}, "dev schedule"), dev_auto);

  // Loaded from a diffusers pipeline folder, 'auto' takes the folder's scheduler/scheduler_config.json before
  // the guidance-embedding rule: here dev's dynamic shift for the schnell-config transformer, so the run is an
  // explicit 'dev' one; from its component folder as from the pipeline folder.
  fs::create_directories(dir / "pipe" / "scheduler");
  fs::copy(dir / "schnell", dir / "pipe" / "transformer");
  std::ofstream(dir / "pipe" / "scheduler" / "scheduler_config.json")
      << R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0, "use_dynamic_shifting": true})";
  const std::string folder_note = "the pipeline's scheduler_config.json schedule (dynamic shift), no guidance embedding: 'guidance' unused";
  for (const char* path : {"pipe", "pipe/transformer"}) {
    g.find("dit")->params["path"] = path;
    EXPECT_EQ(latent({{"schedule", "auto"}, {"guidance", 3.5}}, folder_note), dev) << path;
    EXPECT_NE(planned().find(folder_note), std::string::npos) << planned();
  }
  // An explicit schedule is what it says.
  EXPECT_EQ(latent({{"schedule", "schnell"}}, schnell_note), schnell);
}

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {

// The sampler's plan counts what the run computes: the text length the prompt's encoder pads to
// (flux.text_encode's max_length, the negative's its own), and the negative prompt's forward only on the steps
// of true CFG's interval (flux_cfg_at_step, as flux_sample). FLUX.1-dev from the example's configs.
TEST_F(FluxGraph, PlanCountsTheTextLengthAndTheStepsThatRunTrueCfg) {
  const fs::path examples = fs::path(LATTICE_SOURCE_DIR) / "examples";
  Graph g = load_graph_file(examples / "flux-dev.lattice");
  g.find("prompt")->params["max_length"] = 256;
  RenderOptions o = opts;
  o.base_dir = examples;
  o.targets = {"sample"};
  MemoryCache mem;
  Engine e(&mem);
  auto sample_plan = [&] {
    for (const auto& row : e.plan(g, o))
      if (row.id == "sample") return row.outputs[0].second;
    return PlanInfo{};
  };
  const FluxConfig dev;  // FLUX.1-dev's transformer config is the default
  const double at256 = dev.forward_flops(4096, 256), at512 = dev.forward_flops(4096, 512);
  EXPECT_LT(at256, at512);
  g.find("sample")->params["steps"] = 4;
  PlanInfo p = sample_plan();
  EXPECT_DOUBLE_EQ(p.flops, 4 * at256);
  EXPECT_DOUBLE_EQ(p.meta["per_step"]["flops"].get<double>(), at256);
  EXPECT_DOUBLE_EQ(p.meta["per_step"]["activation_traffic_bytes"].get<double>(), dev.forward_activation_traffic_bytes(4096, 256));
  EXPECT_GT(p.meta["per_step"]["weight_bytes"].get<double>(), 22.0 * 1073741824.0);  // FLUX.1-dev in bf16
  EXPECT_NE(p.shape.find("256 text tokens"), std::string::npos) << p.shape;

  // A negative prompt of 512 tokens with true CFG over the first 10% of 28 steps: steps 0, 1 and 2
  // (progress i / 27 <= 0.1) run its forward too.
  Node negative = *g.find("prompt");
  negative.id = "negative";
  negative.params["max_length"] = 512;
  g.nodes.push_back(negative);
  g.find("sample")->inputs["negative"] = {"negative", "conditioning"};
  g.find("sample")->params["steps"] = 28;
  g.find("sample")->params["true_cfg"] = 3.0;
  g.find("sample")->params["cfg_end"] = 0.1;
  p = sample_plan();
  EXPECT_DOUBLE_EQ(p.flops, 28 * at256 + 3 * at512);
  EXPECT_NE(p.shape.find("28 steps (3 with true CFG)"), std::string::npos) << p.shape;
  // Image-to-image at strength 0.5 starts at step 14: no step of the interval is left.
  g.find("sample")->params["strength"] = 0.5;
  g.find("sample")->inputs["image"] = {"noise", "latent"};
  p = sample_plan();
  EXPECT_DOUBLE_EQ(p.flops, 14 * at256);
  // The whole interval: every step.
  g.find("sample")->params["strength"] = 1.0;
  g.find("sample")->params["cfg_end"] = 1.0;
  EXPECT_DOUBLE_EQ(sample_plan().flops, 28 * (at256 + at512));
}

}  // namespace
}  // namespace lattice
