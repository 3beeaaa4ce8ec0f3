// The Wan nodes on a tiny pipeline folder made from the reference fixtures (the Wan transformer and the UMT5
// encoder share width 32) and a SentencePiece model trained here: wan.load_text_encoder -> wan.text_encode
// (padded rows zeroed) and wan.load_transformer -> wan.sample, whose batched CFG Euler steps are checked
// against the same steps taken by hand with separate forwards; bad frame counts and sizes are refused.
#include <gtest/gtest.h>
#include "tests/support/tolerance.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>

#include "core/document.h"
#include "core/engine.h"
#include "core/types/video.h"
#include "gpu/ops/noise.h"
#include "nodes/gpu_service.h"
#include "nodes/models/block_streamer.h"
#include "nodes/models/fixture.h"
#include "nodes/models/torch_generator.h"
#include "nodes/models/wan/sampler.h"
#include "nodes/types/tensor_value.h"
#include "nodes/types/wan_handles.h"
#include "tests/support/example_plan.h"
#include "tests/support/refusal.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class WanGraph : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("lattice_wan_graph_" + std::to_string(::getpid()));
    fs::remove_all(root);
    const fs::path golden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";
    const Fixture umt5(golden / "umt5_encoder.safetensors"), dit(golden / "wan_transformer.safetensors"),
        i2v(golden / "wan_transformer_i2v.safetensors");
    test::write_fixture_component(i2v, "weights.", i2v.config(), root / "wan" / "transformer_i2v");
    image_embeds = i2v.tensor("input.encoder_hidden_states_image");
    test::write_fixture_component(umt5, "weights.", umt5.config(), root / "wan" / "text_encoder", "model.safetensors");
    test::write_fixture_component(dit, "weights.", dit.config(), root / "wan" / "transformer");
    test::write_tiny_spiece(root / "wan" / "tokenizer", "a slow drone shot over a river at dawn");
    opts.base_dir = root;
    env.set(std::make_shared<GpuService>());
    opts.env = &env;
  }
  void TearDown() override { fs::remove_all(root); }

  Graph graph(const std::string& sample_params) {
    return parse_graph(R"({"lattice": 1, "nodes": [
      {"id": "enc", "type": "wan.load_text_encoder", "params": {"path": "wan"}},
      {"id": "pos", "type": "wan.text_encode", "params": {"prompt": "a  river", "max_length": 12},
       "inputs": {"text_encoder": {"node": "enc", "output": "text_encoder"}}},
      {"id": "neg", "type": "wan.text_encode", "params": {"prompt": "", "max_length": 12},
       "inputs": {"text_encoder": {"node": "enc", "output": "text_encoder"}}},
      {"id": "dit", "type": "wan.load_transformer", "params": {"path": "wan"}},
      {"id": "sample", "type": "wan.sample", "params": )" + sample_params + R"(,
       "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "pos", "output": "conditioning"},
                  "negative": {"node": "neg", "output": "conditioning"}}}]})");
  }
  // The sampler's steps taken by hand: two separate forwards per step on [x, condition] (channels appended,
  // batch 1), uncond + g·(cond − uncond), Euler (or, with `unipc`, the UniPC solver) on the host. Returns the
  // final latent.
  // With `start` (video-to-video): from step `first`, beginning at sigma·noise + (1 − sigma)·start on the host.
  std::vector<float> guided_euler_by_hand(Engine& e, const Graph& g, const gpu::Shape& shape, uint64_t seed, int steps,
                                          double shift, float guidance, const std::vector<float>& condition = {},
                                          const gpu::Tensor& image = {}, bool unipc = false,
                                          const std::vector<float>& start = {}, int first = 0,
                                          const std::vector<float>& noise = {}) {
    auto dit = std::dynamic_pointer_cast<const WanTransformerHandle>(e.evaluate(g, "dit", "dit", opts));
    auto pos = std::dynamic_pointer_cast<const ConditioningData>(e.evaluate(g, "pos", "conditioning", opts));
    auto neg = std::dynamic_pointer_cast<const ConditioningData>(e.evaluate(g, "neg", "conditioning", opts));
    gpu::Context& gc = env.get<GpuService>()->context();
    WanSamplerOptions o;
    o.steps = steps;
    o.shift = shift;
    if (unipc) o.scheduler = WanScheduler::UniPc;
    const FlowMatchSchedule sched = wan_schedule(o);
    std::optional<UniPcSolver<std::vector<float>>> solver;
    if (unipc) solver.emplace(wan_unipc_config(o), sched.sigmas, unipc_update_host);
    if (solver) solver->planner().set_begin_index(first);
    gpu::CommandStream s(gc);
    const gpu::Tensor z = gpu::normal_noise(s, shape, seed);
    s.finish();
    std::vector<float> x = noise.empty() ? z.to_floats() : noise;
    if (!start.empty()) {
      const float sigma = sched.sigmas[static_cast<size_t>(first)];
      for (size_t k = 0; k < x.size(); ++k) x[k] = sigma * x[k] + (1.0f - sigma) * start[k];
    }
    const gpu::Tensor c = gpu::Tensor::from_floats(gc, pos->prompt_embeds.to_f32(), pos->prompt_embeds.shape);
    const gpu::Tensor u = gpu::Tensor::from_floats(gc, neg->prompt_embeds.to_f32(), neg->prompt_embeds.shape);
    gpu::Shape in_shape = shape;
    in_shape[1] += static_cast<int64_t>(condition.size() / (x.size() / static_cast<size_t>(shape[1])));
    for (int i = first; i < steps; ++i) {
      std::vector<float> in = x;
      in.insert(in.end(), condition.begin(), condition.end());
      const gpu::Tensor xt = gpu::Tensor::from_floats(gc, in, in_shape);
      const float t = sched.timesteps[static_cast<size_t>(i)];
      const gpu::Tensor tc = dit->model(gc).forward(s, xt, {t}, c, image), tu = dit->model(gc).forward(s, xt, {t}, u, image);
      s.finish();
      const auto vc = tc.to_floats(), vu = tu.to_floats();
      std::vector<float> v(x.size());
      for (size_t k = 0; k < x.size(); ++k) v[k] = vu[k] + guidance * (vc[k] - vu[k]);
      if (solver) {
        x = solver->step(v, x);
        continue;
      }
      const float dt = sched.sigmas[static_cast<size_t>(i + 1)] - sched.sigmas[static_cast<size_t>(i)];
      for (size_t k = 0; k < x.size(); ++k) x[k] += dt * v[k];
    }
    return x;
  }
  // Feeds the tensor "latent" of video.safetensors into wan.sample's `latent` input.
  static void connect_video_latent(Graph& g) {
    const Graph extra = parse_graph(R"({"lattice": 1, "nodes": [
        {"id": "file", "type": "tensor.load", "params": {"path": "video.safetensors", "name": "latent"}},
        {"id": "video", "type": "latent.from_tensor", "inputs": {"tensor": {"node": "file", "output": "tensor"}}}]})");
    g.nodes.insert(g.nodes.end(), extra.nodes.begin(), extra.nodes.end());
    g.find("sample")->inputs["latent"] = {"video", "latent"};
  }
  static void expect_close(const std::vector<float>& got, const std::vector<float>& ref) {
    EXPECT_TRUE(test::within_tolerance(got, ref));
    float max_ref = 0;
    for (float r : ref) max_ref = std::max(max_ref, std::fabs(r));
    EXPECT_GT(max_ref, 0.1f);
  }

  fs::path root;
  HostTensor image_embeds;
  RenderOptions opts;
  Environment env;
};

TEST_F(WanGraph, TextEncodeZeroesThePaddedRows) {
  Graph g = graph("{}");
  MemoryCache mem;
  Engine e(&mem);
  auto cond = std::dynamic_pointer_cast<const ConditioningData>(e.evaluate(g, "pos", "conditioning", opts));
  ASSERT_TRUE(cond);
  ASSERT_EQ(cond->prompt_embeds.shape, (std::vector<int64_t>{1, 12, 32}));
  auto enc = std::dynamic_pointer_cast<const WanTextEncoderData>(e.evaluate(g, "enc", "text_encoder", opts));
  // The cleaned prompt (double space collapsed) tokenized as WanPipeline does: ids + EOS, then padding.
  const TokenBatch ids = enc->tokenizer.encode_padded("a river", 12);
  ASSERT_GT(ids.valid_len, 2u);
  ASSERT_LT(ids.valid_len, 12u);
  const auto v = cond->prompt_embeds.to_f32();
  for (size_t row = 0; row < 12; ++row) {
    float m = 0;
    for (size_t c = 0; c < 32; ++c) m = std::max(m, std::fabs(v[row * 32 + c]));
    if (row < ids.valid_len) EXPECT_GT(m, 0.0f) << "row " << row;
    else EXPECT_EQ(m, 0.0f) << "row " << row;
  }
  // The rows kept equal the masked UMT5 output.
  gpu::Context& gc = env.get<GpuService>()->context();
  gpu::CommandStream s(gc);
  const auto ref = enc->umt5->model(gc).encode(s, std::span<const TokenBatch>(&ids, 1), true);
  s.finish();
  const auto r = ref.to_floats();
  for (size_t i = 0; i < ids.valid_len * 32; ++i) EXPECT_EQ(v[i], r[i]) << i;
}

TEST_F(WanGraph, SampleEqualsGuidedEulerStepsTakenByHand) {
  Graph g = graph(R"({"width": 64, "height": 48, "num_frames": 9, "steps": 2, "guidance": 4.0, "shift": 3.0, "seed": 5})");
  MemoryCache mem;
  Engine e(&mem);
  auto latent = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "sample", "latent", opts));
  ASSERT_TRUE(latent);
  ASSERT_EQ(latent->shape(), (std::vector<int64_t>{1, 16, 3, 6, 8}));

  WanSamplerOptions o;
  o.steps = 2;
  o.shift = 3.0;
  const FlowMatchSchedule sched = wan_schedule(o);
  ASSERT_EQ(sched.sigmas.size(), 3u);
  EXPECT_FLOAT_EQ(sched.sigmas[0], 1.0f);
  EXPECT_EQ(sched.sigmas[2], 0.0f);
  expect_close(latent->host().to_f32(), guided_euler_by_hand(e, g, {1, 16, 3, 6, 8}, 5, 2, 3.0, 4.0f));
}

TEST_F(WanGraph, TorchGeneratorStartsFromTorchRandnOfTheSeedAsWanPipeline) {
  // WanPipeline draws its latents with torch.randn(shape, generator, dtype=float32).
  Graph g = graph(R"({"width": 64, "height": 48, "num_frames": 9, "steps": 2, "guidance": 4.0, "shift": 3.0, "seed": 5,
                      "generator": "torch"})");
  MemoryCache mem;
  Engine e(&mem);
  auto latent = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "sample", "latent", opts));
  ASSERT_TRUE(latent);
  const std::vector<float> torch_noise = TorchCpuGenerator(5).randn(16 * 3 * 6 * 8);
  expect_close(latent->host().to_f32(),
               guided_euler_by_hand(e, g, {1, 16, 3, 6, 8}, 5, 2, 3.0, 4.0f, {}, {}, false, {}, 0, torch_noise));
}

TEST_F(WanGraph, SampleWithUniPcEqualsGuidedUniPcStepsTakenByHand) {
  // Three steps: order 1, then order 2 with the corrector, then order 1 to sigma 0 (lower_order_final).
  Graph g = graph(R"({"width": 64, "height": 48, "num_frames": 5, "steps": 3, "guidance": 4.0, "shift": 3.0, "seed": 7,
                      "scheduler": "unipc"})");
  MemoryCache mem;
  Engine e(&mem);
  auto latent = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "sample", "latent", opts));
  ASSERT_TRUE(latent);
  const std::vector<float> got = latent->host().to_f32();
  const std::vector<float> unipc = guided_euler_by_hand(e, g, {1, 16, 2, 6, 8}, 7, 3, 3.0, 4.0f, {}, {}, true);
  expect_close(got, unipc);
  // Not the Euler result: the scheduler parameter reaches the sampler.
  const std::vector<float> euler = guided_euler_by_hand(e, g, {1, 16, 2, 6, 8}, 7, 3, 3.0, 4.0f);
  float diff = 0;
  for (size_t k = 0; k < got.size(); ++k) diff = std::max(diff, std::fabs(got[k] - euler[k]));
  EXPECT_GT(diff, 1e-3f);
}

TEST_F(WanGraph, VideoToVideoStartsAtTheStepTheStrengthImpliesFromTheNoisedLatent) {
  // Start latents from a file (what wan.vae_encode would give) into the `latent` input.
  const gpu::Shape shape{1, 16, 3, 6, 8};
  std::vector<float> start(16 * 3 * 6 * 8);
  for (size_t i = 0; i < start.size(); ++i) start[i] = 0.8f * std::cos(0.21f * static_cast<float>(i));
  const HostTensor video = HostTensor::from_f32(shape, start);
  write_safetensors(root / "video.safetensors", {{"latent", &video}});
  const auto v2v = [&](const std::string& params) {
    Graph g = graph(params);
    connect_video_latent(g);
    return g;
  };
  const std::string p = R"("width": 64, "height": 48, "num_frames": 9, "steps": 3, "guidance": 4.0, "shift": 3.0, "seed": 5)";
  MemoryCache mem;
  Engine e(&mem);
  const auto latent = [&](const Graph& g) {
    auto t = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "sample", "latent", opts));
    EXPECT_TRUE(t);
    return t ? t->host().to_f32() : std::vector<float>{};
  };
  // Strength 1 ignores the video: text-to-video from the same seed, exactly.
  EXPECT_EQ(latent(v2v("{" + p + R"(, "strength": 1.0})")), latent(graph("{" + p + "}")));
  // Strength 0.6 of 3 steps takes the last int(1.8) = 1 step (diffusers' get_timesteps for Wan video-to-video;
  // FLUX's img2img rounding would take 2), from sigma_2·noise + (1 − sigma_2)·start.
  WanSamplerOptions o;
  o.steps = 3;
  o.strength = 0.6f;
  ASSERT_EQ(wan_start_step(o), 2);
  const Graph g = v2v("{" + p + R"(, "strength": 0.6})");
  RenderReport r;
  e.evaluate(g, "sample", "latent", opts, &r);
  const auto sample = std::find_if(r.nodes.begin(), r.nodes.end(), [](const NodeReport& n) { return n.id == "sample"; });
  ASSERT_NE(sample, r.nodes.end());
  EXPECT_EQ(sample->info.value("steps", 0), 1) << sample->info.dump();
  const std::vector<float> got = latent(g);
  expect_close(got, guided_euler_by_hand(e, g, shape, 5, 3, 3.0, 4.0f, {}, {}, false, start, 2));
  // UniPC begins at the same step, with an empty history (lower order first, as set_begin_index does).
  const Graph gu = v2v("{" + p + R"(, "strength": 0.6, "scheduler": "unipc"})");
  expect_close(latent(gu), guided_euler_by_hand(e, gu, shape, 5, 3, 3.0, 4.0f, {}, {}, true, start, 2));
}

// Video-to-video end to end, on the golden Wan VAE beside the tiny DiT (both 16 latent channels): a
// text-to-video sample decoded to 9 frames of 64x48, encoded again by wan.vae_encode, refined by wan.sample at
// strength 0.5 (the last 1 of 3 steps) and decoded: the wires fit (encode's normalised latent is what the
// sampler's `latent` input takes), and the refinement starts from that video, not from noise.
TEST_F(WanGraph, VideoToVideoThroughTheVaeEncoderAndBack) {
  const Fixture vae(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/wan_vae.safetensors");
  test::write_fixture_component(vae, "weights.", vae.config(), root / "wan" / "vae");
  Graph g = graph(R"({"width": 64, "height": 48, "num_frames": 9, "steps": 3, "guidance": 4.0, "shift": 3.0, "seed": 5})");
  const Graph extra = parse_graph(R"({"lattice": 2, "nodes": [
      {"id": "vae", "type": "wan.load_vae", "params": {"path": "wan"}},
      {"id": "decode", "type": "wan.vae_decode",
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "latent": {"node": "sample", "output": "latent"}}},
      {"id": "encode", "type": "wan.vae_encode", "params": {"sample": false},
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "video": {"node": "decode", "output": "video"}}},
      {"id": "refine", "type": "wan.sample",
       "params": {"width": 64, "height": 48, "num_frames": 9, "steps": 3, "guidance": 4.0, "shift": 3.0, "seed": 7, "strength": 0.5},
       "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "pos", "output": "conditioning"},
                  "negative": {"node": "neg", "output": "conditioning"}, "latent": {"node": "encode", "output": "latent"}}},
      {"id": "refined", "type": "wan.vae_decode",
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "latent": {"node": "refine", "output": "latent"}}}]})");
  g.nodes.insert(g.nodes.end(), extra.nodes.begin(), extra.nodes.end());
  MemoryCache mem;
  Engine e(&mem);
  RenderReport r;
  const auto video = std::dynamic_pointer_cast<const VideoData>(e.evaluate(g, "refined", "video", opts, &r));
  ASSERT_TRUE(video);
  EXPECT_EQ(video->frame_count(), 9);
  EXPECT_EQ(video->width(), 64);
  EXPECT_EQ(video->height(), 48);
  for (const auto& frame : video->frames)
    for (float v : frame->pixels) ASSERT_TRUE(std::isfinite(v));
  const auto refine = std::find_if(r.nodes.begin(), r.nodes.end(), [](const NodeReport& n) { return n.id == "refine"; });
  ASSERT_NE(refine, r.nodes.end());
  EXPECT_EQ(refine->info.value("steps", 0), 1) << refine->info.dump();
  // Where it started: the same refinement from another video's latent ends elsewhere.
  const auto latent = [&](const Graph& graph) {
    return std::dynamic_pointer_cast<const TensorValue>(e.evaluate(graph, "refine", "latent", opts))->host().to_f32();
  };
  Graph other = g;
  other.find("sample")->params["seed"] = 6;
  EXPECT_NE(latent(g), latent(other));
}

TEST_F(WanGraph, VideoToVideoRefusesALatentOfAnotherSizeOrNone) {
  MemoryCache mem;
  Engine e(&mem);
  const HostTensor small = HostTensor::from_f32({1, 16, 2, 6, 8}, std::vector<float>(16 * 2 * 6 * 8, 0.5f));
  write_safetensors(root / "video.safetensors", {{"latent", &small}});
  // Invalid input, refused by the dry run too.
  Graph g = graph(R"({"width": 64, "height": 48, "num_frames": 9, "steps": 2, "strength": 0.5})");
  test::expect_plan_and_run_refuse(e, g, opts, "sample", "latent", "node 'sample' (wan.sample): strength < 1 needs the 'latent' input");
  connect_video_latent(g);
  test::expect_plan_and_run_refuse(e, g, opts, "sample", "latent",
                                   "does not fit the 64x48, 9 frames this sampler makes (expected [1, 16, 3, 6, 8])");
  // The same latent as the starting noise (strength 1).
  g = graph(R"({"width": 64, "height": 48, "num_frames": 9, "steps": 2})");
  connect_video_latent(g);
  g.find("sample")->inputs["noise"] = g.find("sample")->inputs["latent"];
  g.find("sample")->inputs.erase("latent");
  test::expect_plan_and_run_refuse(e, g, opts, "sample", "latent", "(wan.sample): noise ");
  test::expect_plan_and_run_refuse(e, g, opts, "sample", "latent", "[1, 16, 2, 6, 8]");
  // guidance > 1 without a negative prompt.
  g = graph(R"({"width": 64, "height": 48, "num_frames": 9, "steps": 2})");
  g.find("sample")->inputs.erase("negative");
  test::expect_plan_and_run_refuse(e, g, opts, "sample", "latent", "guidance > 1 needs the");
}

TEST_F(WanGraph, CfgInTurnEqualsCfgBatched) {
  const std::string p = R"("width": 32, "height": 32, "num_frames": 5, "steps": 2, "guidance": 6.0, "seed": 9)";
  MemoryCache mem;
  Engine e(&mem);
  auto batched = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(graph("{" + p + "}"), "sample", "latent", opts));
  auto in_turn = std::dynamic_pointer_cast<const TensorValue>(
      e.evaluate(graph("{" + p + R"(, "batch_cfg": false})"), "sample", "latent", opts));
  ASSERT_TRUE(batched && in_turn);
  const auto a = batched->host().to_f32(), b = in_turn->host().to_f32();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5f * std::max(1.0f, std::fabs(a[i]))) << i;
}

TEST_F(WanGraph, DryRunPlansTheExample14BFromItsConfigsAlone) {
  // examples/wan-t2v-sample.lattice against the config-only folder: no weights, no device.
  const std::map<std::string, PlanInfo> plan = test::plan_example("wan-t2v-sample.lattice", opts);
  const PlanInfo& dit = plan.at("transformer");
  EXPECT_NE(dit.shape.find("Wan 2.1 T2V 14B"), std::string::npos) << dit.shape;
  // bf16 matrices, f32 vectors (as the run uploads them): a little over two bytes per parameter.
  EXPECT_EQ(dit.weight_bytes, weights_device_bytes(wan_checkpoint_shapes(WanConfig{}), DType::BF16));
  EXPECT_GT(dit.weight_bytes, WanConfig{}.parameter_count() * 2);
  EXPECT_LT(dit.weight_bytes, WanConfig{}.parameter_count() * 2 + (64ull << 20));
  const PlanInfo& sample = plan.at("sample");
  EXPECT_NE(sample.shape.find("[1, 16, 21, 60, 104], 32760 tokens"), std::string::npos) << sample.shape;
  WanConfig c;
  EXPECT_DOUBLE_EQ(sample.flops, c.forward_flops(32760, kWanTextTokens, 0) * 2 * 50);
  // The batch-2 forward's activations and what the sampler holds (latents, both prompts, the CFG batch).
  EXPECT_EQ(sample.activation_bytes, wan_activation_bytes(c, 32760, kWanTextTokens, 2) +
                                         wan_sampler_device_bytes(c, 21 * 60 * 104, kWanTextTokens, 0, true, true));
  EXPECT_GT(plan.at("text_encoder").weight_bytes, 10ull << 30);  // UMT5-XXL in bf16
  EXPECT_FALSE(env.get<GpuService>()->started());
}

TEST_F(WanGraph, DryRunPlansTheTextLengthThePromptsAreEncodedAt) {
  // examples/wan-t2v-sample.lattice with both prompts at 4096 tokens: the plan runs the transformer with them (its
  // cross-attention, the text states the sampler holds), not with WanPipeline's 512.
  const fs::path examples = fs::path(LATTICE_SOURCE_DIR) / "examples";
  Graph g = load_graph_file(examples / "wan-t2v-sample.lattice");
  for (const char* id : {"prompt", "negative"}) g.find(id)->params["max_length"] = 4096;
  RenderOptions o = opts;
  o.base_dir = examples;
  MemoryCache mem;
  Engine e(&mem);
  PlanInfo sample;
  for (const auto& row : e.plan(g, o))
    if (row.id == "sample") sample = row.outputs.at(0).second;
  const WanConfig c;
  EXPECT_DOUBLE_EQ(sample.flops, c.forward_flops(32760, 4096, 0) * 2 * 50);
  EXPECT_EQ(sample.activation_bytes,
            wan_activation_bytes(c, 32760, 4096, 2) + wan_sampler_device_bytes(c, 21 * 60 * 104, 4096, 0, true, true));
  // Prompts of different lengths cannot be guided together: refused before anything runs, as the run would.
  g.find("negative")->params["max_length"] = 512;
  test::expect_refused([&] { e.plan(g, o); }, ErrorKind::InvalidInput,
                       "node 'sample' (wan.sample): the negative prompt's 512 tokens differ from the prompt's 4096");
  EXPECT_FALSE(env.get<GpuService>()->started());
}

TEST_F(WanGraph, DryRunPlansTheFullExampleThroughDecodeAndSave) {
  // examples/wan-t2v.lattice (sample, VAE decode, video.save) against the config-only folder: every node plans,
  // nothing is written and the device is never started.
  const std::map<std::string, PlanInfo> plan = test::plan_example("wan-t2v.lattice", opts);
  ASSERT_EQ(plan.size(), 8u);
  for (const auto& [id, info] : plan) EXPECT_FALSE(info.shape.empty()) << id << " has no plan";
  EXPECT_NE(plan.at("transformer").shape.find("Wan 2.1 T2V 14B"), std::string::npos) << plan.at("transformer").shape;
  const std::string& sample = plan.at("sample").shape;
  EXPECT_NE(sample.find("[1, 16, 21, 60, 104], 32760 tokens, 50 UniPC steps, CFG batch 2"), std::string::npos) << sample;
  EXPECT_EQ(plan.at("decode").shape, "video 81 frames 832x480 at 16 fps");
  EXPECT_GT(plan.at("decode").activation_bytes, 0u);
  EXPECT_GT(plan.at("vae").weight_bytes, 100ull << 20);  // the Wan 2.1 VAE, about 127 M parameters in f32
  const std::string& save = plan.at("save").shape;
  EXPECT_EQ(save.rfind("file "), 0u) << save;
  EXPECT_NE(save.find("wan-t2v.mp4"), std::string::npos) << save;
  EXPECT_FALSE(fs::exists(fs::path(LATTICE_SOURCE_DIR) / "examples" / "wan-t2v.mp4"));
  EXPECT_FALSE(env.get<GpuService>()->started());
}

TEST_F(WanGraph, ImageToVideoSamplesWithTheImageConditionOnEveryStep) {
  // The tiny I2V transformer (36 input channels = 16 noise + 20 condition), image embeddings and a
  // condition latent from files, 2 CFG steps; checked against the same steps by hand.
  std::vector<float> cond(20 * 2 * 4 * 6);
  for (size_t i = 0; i < cond.size(); ++i) cond[i] = std::sin(0.37f * static_cast<float>(i));
  const HostTensor condition = HostTensor::from_f32({1, 20, 2, 4, 6}, cond);
  write_safetensors(root / "image.safetensors", {{"embeds", &image_embeds}, {"condition", &condition}});
  Graph g = parse_graph(R"({"lattice": 1, "nodes": [
    {"id": "enc", "type": "wan.load_text_encoder", "params": {"path": "wan"}},
    {"id": "pos", "type": "wan.text_encode", "params": {"prompt": "a river", "max_length": 12},
     "inputs": {"text_encoder": {"node": "enc", "output": "text_encoder"}}},
    {"id": "neg", "type": "wan.text_encode", "params": {"prompt": "", "max_length": 12},
     "inputs": {"text_encoder": {"node": "enc", "output": "text_encoder"}}},
    {"id": "dit", "type": "wan.load_transformer", "params": {"path": "wan", "component": "transformer_i2v"}},
    {"id": "emb", "type": "tensor.load", "params": {"path": "image.safetensors", "name": "embeds"}},
    {"id": "cond", "type": "tensor.load", "params": {"path": "image.safetensors", "name": "condition"}},
    {"id": "sample", "type": "wan.sample",
     "params": {"width": 48, "height": 32, "num_frames": 5, "steps": 2, "guidance": 3.0, "shift": 5.0, "seed": 3},
     "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "pos", "output": "conditioning"},
                "negative": {"node": "neg", "output": "conditioning"}, "image_embeds": {"node": "emb", "output": "tensor"},
                "image_condition": {"node": "cond", "output": "tensor"}}}]})");
  MemoryCache mem;
  Engine e(&mem);
  auto latent = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "sample", "latent", opts));
  ASSERT_TRUE(latent);
  ASSERT_EQ(latent->shape(), (std::vector<int64_t>{1, 16, 2, 4, 6}));

  auto dit = std::dynamic_pointer_cast<const WanTransformerHandle>(e.evaluate(g, "dit", "dit", opts));
  ASSERT_TRUE(dit->config().image_to_video());
  const gpu::Tensor img =
      gpu::Tensor::from_floats(env.get<GpuService>()->context(), image_embeds.to_f32(), image_embeds.shape);
  expect_close(latent->host().to_f32(), guided_euler_by_hand(e, g, {1, 16, 2, 4, 6}, 3, 2, 5.0, 3.0f, cond, img));

  // One of the two image inputs alone: invalid input, refused by the dry run too.
  Graph half = g;
  half.find("sample")->inputs.erase("image_condition");
  test::expect_plan_and_run_refuse(e, half, opts, "sample", "latent",
                                   "node 'sample' (wan.sample): image-to-video needs both 'image_embeds' and 'image_condition'");
  // Without the image inputs the I2V model refuses to sample.
  g.find("sample")->inputs.erase("image_embeds");
  g.find("sample")->inputs.erase("image_condition");
  try {
    e.evaluate(g, "sample", "latent", opts);
    ADD_FAILURE();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("image"), std::string::npos) << err.what();
  }
}

TEST_F(WanGraph, BadFrameCountsAndSizesAreRefused) {
  MemoryCache mem;
  Engine e(&mem);
  for (const char* params : {R"({"width": 64, "height": 48, "num_frames": 8, "steps": 1})",
                             R"({"width": 60, "height": 48, "num_frames": 5, "steps": 1})"}) {
    // The run and the dry run refuse them alike, naming the node.
    const bool frames = std::string(params).find("\"num_frames\": 8") != std::string::npos;
    test::expect_plan_and_run_refuse(e, graph(params), opts, "sample", "latent",
                                     frames ? "node 'sample' (wan.sample): Wan: num_frames must be 4k + 1"
                                            : "node 'sample' (wan.sample): Wan: width and height must be positive multiples of 16");
  }
}

}  // namespace
}  // namespace lattice
