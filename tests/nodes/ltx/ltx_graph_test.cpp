// The LTX-Video graphs as a user builds them (load transformer and VAE from a diffusers folder, sample,
// decode; image-to-video through ltx.encode_image), on the tiny random LTX-Video of the reference fixtures.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "core/document.h"
#include "core/engine.h"
#include "core/types/video.h"
#include "nodes/gpu_service.h"
#include "nodes/image/image_io.h"
#include "nodes/models/fixture.h"
#include "nodes/models/ltx/vae.h"
#include "nodes/types/ltx_handles.h"
#include "nodes/types/tensor_value.h"
#include "tests/nodes/video/video_test_util.h"
#include "tests/support/example_plan.h"
#include "tests/support/gpu_limits.h"
#include "tests/support/refusal.h"
#include "tests/support/render_info.h"
#include "tests/support/latent_sample_reference.h"
#include "tests/support/tiny_models.h"
#include "tests/support/tolerance.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class LtxGraph : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("lattice_ltx_graph_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    const fs::path golden = fs::path(LATTICE_SOURCE_DIR) / "tests/golden";
    Fixture tr(golden / "ltx_transformer.safetensors"), vae(golden / "ltx_vae.safetensors");
    test::write_fixture_component(tr, "weights.", tr.config(), dir / "tiny-ltx" / "transformer");
    test::write_fixture_component(vae, "weights.", vae.config(), dir / "tiny-ltx" / "vae");
    Fixture up(golden / "ltx_latent_upsampler.safetensors");
    test::write_fixture_component(up, "weights.", up.config(), dir / "tiny-ltx" / "latent_upsampler");
    // Prompt states [1, 8, 24] from the fixture (conditioning.from_tensors wants a pooled tensor too).
    const HostTensor embeds = tr.tensor("input.encoder_hidden_states"), pooled = HostTensor::from_f32({1, 1}, {0.0f});
    write_safetensors(dir / "inputs.safetensors", {{"prompt_embeds", &embeds}, {"pooled_prompt_embeds", &pooled}});
    opts.base_dir = dir;
    opts.output_dir = dir;
    env.set(std::make_shared<GpuService>());
    opts.env = &env;
  }
  void TearDown() override { fs::remove_all(dir); }

  fs::path dir;
  RenderOptions opts;
  Environment env;
};

const char* kGraph = R"({"lattice": 1, "nodes": [
  {"id": "inputs", "type": "tensor.load", "params": {"path": "inputs.safetensors"}},
  {"id": "cond", "type": "conditioning.from_tensors", "inputs": {"tensors": {"node": "inputs", "output": "tensors"}}},
  {"id": "dit", "type": "ltx.load_transformer", "params": {"path": "tiny-ltx"}},
  {"id": "vae", "type": "ltx.load_vae", "params": {"path": "tiny-ltx"}},
  {"id": "image", "type": "image.constant", "params": {"width": 64, "height": 96}},
  {"id": "first", "type": "ltx.encode_image", "inputs": {"vae": {"node": "vae", "output": "vae"}, "image": {"node": "image", "output": "image"}}},
  {"id": "sample", "type": "ltx.sample", "params": {"steps": 2, "guidance": 1.0, "width": 64, "height": 96, "num_frames": 9, "seed": 3},
   "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "cond", "output": "conditioning"}}},
  {"id": "i2v", "type": "ltx.sample", "params": {"steps": 2, "guidance": 1.0, "width": 64, "height": 96, "num_frames": 9, "seed": 3},
   "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "cond", "output": "conditioning"},
              "image": {"node": "first", "output": "latent"}}},
  {"id": "decode", "type": "ltx.vae_decode", "inputs": {"vae": {"node": "vae", "output": "vae"}, "latent": {"node": "sample", "output": "latent"}}},
  {"id": "up", "type": "ltx.load_upsampler", "params": {"path": "tiny-ltx"}},
  {"id": "bigger", "type": "ltx.upsample", "params": {"adain_factor": 1.0, "tone_map": 0.5},
   "inputs": {"upsampler": {"node": "up", "output": "upsampler"}, "vae": {"node": "vae", "output": "vae"}, "latent": {"node": "sample", "output": "latent"}}},
  {"id": "refine", "type": "ltx.sample", "params": {"steps": 4, "strength": 0.5, "guidance": 1.0, "width": 128, "height": 192, "num_frames": 9, "seed": 5},
   "inputs": {"dit": {"node": "dit", "output": "dit"}, "conditioning": {"node": "cond", "output": "conditioning"},
              "latent": {"node": "bigger", "output": "latent"}}}
]})";

std::shared_ptr<const TensorValue> eval(Engine& e, const Graph& g, const char* node, const char* port, const RenderOptions& o) {
  return std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, node, port, o));
}

TEST_F(LtxGraph, TextToVideoDecodesNineFramesOfTheRequestedSize) {
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  const auto latent = eval(e, g, "sample", "latent", opts);
  ASSERT_TRUE(latent);
  EXPECT_EQ(latent->shape(), (std::vector<int64_t>{1, 16, 2, 3, 2}));
  const auto video = std::dynamic_pointer_cast<const VideoData>(e.evaluate(g, "decode", "video", opts));
  ASSERT_TRUE(video);
  ASSERT_EQ(video->frame_count(), 9);
  EXPECT_EQ(video->width(), 64);
  EXPECT_EQ(video->height(), 96);
  EXPECT_EQ(video->channels(), 3);
  EXPECT_EQ(video->fps_num, 25);
  EXPECT_EQ(video->fps_den, 1);
  float lo = 1, hi = 0;
  for (const auto& frame : video->frames)
    for (float v : frame->pixels) {
      ASSERT_TRUE(std::isfinite(v));
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
  EXPECT_GE(lo, 0.0f);
  EXPECT_LE(hi, 1.0f);
  EXPECT_GT(hi - lo, 0.01f);  // not a flat video

  // NTSC rates stay exact.
  g.find("decode")->params["frame_rate"] = 23.976;
  const auto ntsc = std::dynamic_pointer_cast<const VideoData>(e.evaluate(g, "decode", "video", opts));
  EXPECT_EQ(ntsc->fps_num, 24000);
  EXPECT_EQ(ntsc->fps_den, 1001);

  // Another seed gives other latents.
  g.find("sample")->params["seed"] = 4;
  const auto other = eval(e, g, "sample", "latent", opts);
  EXPECT_NE(other->host().to_f32(), latent->host().to_f32());

  // LTXPipeline's torch.randn noise for the same seed (nodes/models/torch_generator.h; the Wan graph test checks
  // the steps from it): other latents, the same on a fresh engine.
  g.find("sample")->params["generator"] = "torch";
  const auto torch_noise = eval(e, g, "sample", "latent", opts);
  EXPECT_NE(torch_noise->host().to_f32(), other->host().to_f32());
  MemoryCache fresh_mem;
  Engine fresh(&fresh_mem);
  EXPECT_EQ(eval(fresh, g, "sample", "latent", opts)->host().to_f32(), torch_noise->host().to_f32());
}

// ltx.encode_video: the decoded 9-frame video back to a [1, 16, 2, 3, 2] latent. The encoder is causal in
// time, so its first latent frame is ltx.encode_image of the first video frame (both on the mean); a video of
// 8 frames is refused with the frame counts that would do.
TEST_F(LtxGraph, EncodeVideoGivesEveryLatentFrameAndItsFirstIsTheFirstFramesImageLatent) {
  Graph g = parse_graph(kGraph);
  Json extra = Json::parse(R"([
    {"id": "clip", "type": "ltx.encode_video", "params": {"sample": false},
     "inputs": {"vae": {"node": "vae", "output": "vae"}, "video": {"node": "decode", "output": "video"}}},
    {"id": "frame0", "type": "video.frame", "inputs": {"video": {"node": "decode", "output": "video"}}},
    {"id": "still", "type": "ltx.encode_image", "params": {"sample": false},
     "inputs": {"vae": {"node": "vae", "output": "vae"}, "image": {"node": "frame0", "output": "image"}}},
    {"id": "eight", "type": "video.load", "params": {"path": "f.####.png", "count": 8}},
    {"id": "short", "type": "ltx.encode_video",
     "inputs": {"vae": {"node": "vae", "output": "vae"}, "video": {"node": "eight", "output": "video"}}}])");
  Json doc = graph_to_json(g);
  for (auto& n : extra) doc["nodes"].push_back(n);
  g = graph_from_json(doc, "test");
  MemoryCache mem;
  Engine e(&mem);
  const auto clip = eval(e, g, "clip", "latent", opts);
  const auto still = eval(e, g, "still", "latent", opts);
  ASSERT_TRUE(clip && still);
  ASSERT_EQ(clip->shape(), (std::vector<int64_t>{1, 16, 2, 3, 2}));
  const auto c = clip->host().to_f32(), f = still->host().to_f32();
  float scale = 1, err = 0, later = 0;
  for (int ch = 0; ch < 16; ++ch)
    for (int i = 0; i < 6; ++i) {
      const float a = c[static_cast<size_t>(ch * 12 + i)], b = f[static_cast<size_t>(ch * 6 + i)];
      scale = std::max(scale, std::fabs(b));
      err = std::max(err, std::fabs(a - b));
      later = std::max(later, std::fabs(c[static_cast<size_t>(ch * 12 + 6 + i)] - b));
    }
  EXPECT_LE(err, 1e-4f * scale) << "latent frame 0 is not the first frame's image latent";
  EXPECT_GT(later, 1e-3f) << "latent frame 1 should encode the later frames, not repeat frame 0";

  const auto video = std::dynamic_pointer_cast<const VideoData>(e.evaluate(g, "decode", "video", opts));
  ASSERT_TRUE(video);
  for (int i = 0; i < 8; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "f.%04d.png", i + 1);
    write_image(dir / name, *video->frames[static_cast<size_t>(i)], "8", nullptr);
  }
  try {
    e.evaluate(g, "short", "latent", opts);
    FAIL() << "8 frames were encoded";
  } catch (const Error& err8) {
    EXPECT_NE(std::string(err8.what()).find("has 8 frames"), std::string::npos) << err8.what();
    EXPECT_NE(std::string(err8.what()).find("e.g. 1 or 9"), std::string::npos) << err8.what();
  }
}

TEST_F(LtxGraph, EncodeVideoTilesWhenTheClipDoesNotFitABuffer) {
  // Under a buffer limit that holds the encoder's tensors for 2x2 latent tiles of the 9-frame clip but not for
  // its whole 3x2 latent, ltx.encode_video encodes in tiles and says so; the latent keeps its shape and stays
  // near the whole encode (tiles see zeros past their edges).
  Graph g = parse_graph(kGraph);
  Json doc = graph_to_json(g);
  doc["nodes"].push_back(Json::parse(R"({"id": "clip", "type": "ltx.encode_video", "params": {"sample": false},
     "inputs": {"vae": {"node": "vae", "output": "vae"}, "video": {"node": "decode", "output": "video"}}})"));
  g = graph_from_json(doc, "test");
  const LtxVaeConfig c = ltx_vae_config_from_json(Fixture(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_vae.safetensors").config());
  uint64_t limit = 1024;
  while (c.largest_encode_tile(limit, 2, 3, 2) < 2) limit += 1024;
  ASSERT_LT(c.largest_encode_tile(limit, 2, 3, 2), 3);
  const LtxEncodeTiling expect = ltx_auto_encode_tiling(c, {0, 2, 0, 1}, limit, 2, 3, 2);
  ASSERT_EQ(expect.tile, 2);
  MemoryCache mem;
  Engine e(&mem);
  const auto whole = eval(e, g, "clip", "latent", opts);
  Environment small;  // outlives the cache of values made on its device
  small.set(test::gpu_with_buffer_limit(limit));
  RenderOptions o = opts;
  o.env = &small;
  MemoryCache mem_t;
  Engine et(&mem_t);
  RenderReport report;
  const auto tiled = std::dynamic_pointer_cast<const TensorValue>(et.evaluate(g, "clip", "latent", o, &report));
  ASSERT_TRUE(whole && tiled);
  EXPECT_EQ(test::node_info(report, "clip").value("auto_tile", -1), 2);
  EXPECT_EQ(tiled->shape(), whole->shape());
  const auto a = whole->host().to_f32(), b = tiled->host().to_f32();
  float peak = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    peak = std::max(peak, std::fabs(a[i]));
    diff = std::max(diff, std::fabs(a[i] - b[i]));
  }
  std::printf("  ltx.encode_video in 2x2 tiles: max |tiled - whole| %.4f (peak %.3f)\n", diff, peak);
  EXPECT_GT(diff, 0.0f);
  EXPECT_LT(diff, peak);
}

TEST_F(LtxGraph, ImageToVideoStartsFromTheEncodedImage) {
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  const auto first = eval(e, g, "first", "latent", opts);
  const auto video = eval(e, g, "i2v", "latent", opts);
  ASSERT_TRUE(first && video);
  ASSERT_EQ(first->shape(), (std::vector<int64_t>{1, 16, 1, 3, 2}));
  const auto f = first->host().to_f32(), v = video->host().to_f32();
  for (int c = 0; c < 16; ++c)
    for (int i = 0; i < 6; ++i) EXPECT_EQ(v[static_cast<size_t>(c * 12 + i)], f[static_cast<size_t>(c * 6 + i)]);
}

// image_index: the image conditions another latent frame: that frame is the image's latent, the first is not;
// an index past the last latent frame is refused naming the frames there are.
TEST_F(LtxGraph, ImageConditionsTheLatentFrameImageIndexSays) {
  Graph g = parse_graph(kGraph);
  g.find("i2v")->params["image_index"] = 1;
  MemoryCache mem;
  Engine e(&mem);
  const auto first = eval(e, g, "first", "latent", opts);
  const auto video = eval(e, g, "i2v", "latent", opts);
  ASSERT_TRUE(first && video);
  const auto f = first->host().to_f32(), v = video->host().to_f32();
  float at0 = 0;
  for (int c = 0; c < 16; ++c)
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(v[static_cast<size_t>(c * 12 + 6 + i)], f[static_cast<size_t>(c * 6 + i)]);
      at0 = std::max(at0, std::fabs(v[static_cast<size_t>(c * 12 + i)] - f[static_cast<size_t>(c * 6 + i)]));
    }
  EXPECT_GT(at0, 1e-3f) << "latent frame 0 should be sampled, not the image";
  g.find("i2v")->params["image_index"] = 2;
  try {
    e.evaluate(g, "i2v", "latent", opts);
    FAIL() << "image_index 2 of 2 latent frames was accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("past the video's last latent frame (1 for 9 frames)"), std::string::npos) << err.what();
  }
}

// condition_k (LTXConditionPipeline): at frame 0 with strength 1 the first latent frame is the image's latent;
// a keyframe at the last frame (appended tokens, strength 0.5: noise from the node's seed) changes the video;
// a frame past the end, and 'image' beside conditions, are refused with what to do, by the dry run too.
TEST_F(LtxGraph, ConditionInputsPlaceKeyframesAtVideoFrames) {
  Graph g = parse_graph(kGraph);
  Node& keys = *g.find("sample");
  keys.inputs["condition_1"] = {"first", "latent"};
  keys.params["condition_noise_scale"] = 0.0;  // held exactly (the default 0.15 re-noises it a little, below)
  MemoryCache mem;
  Engine e(&mem);
  const auto first = eval(e, g, "first", "latent", opts);
  const auto held = eval(e, g, "sample", "latent", opts);
  ASSERT_TRUE(first && held);
  ASSERT_EQ(held->shape(), (std::vector<int64_t>{1, 16, 2, 3, 2}));
  const auto f = first->host().to_f32(), v = held->host().to_f32();
  for (int c = 0; c < 16; ++c)
    for (int i = 0; i < 6; ++i) EXPECT_EQ(v[static_cast<size_t>(c * 12 + i)], f[static_cast<size_t>(c * 6 + i)]);

  keys.inputs["condition_2"] = {"first", "latent"};
  keys.params["condition_2_frame"] = 8;
  keys.params["condition_2_strength"] = 0.5;
  const auto keyed = eval(e, g, "sample", "latent", opts);
  ASSERT_TRUE(keyed);
  const auto k = keyed->host().to_f32();
  float moved = 0;
  for (size_t i = 0; i < k.size(); ++i) moved = std::max(moved, std::fabs(k[i] - v[i]));
  EXPECT_GT(moved, 1e-3f) << "the keyframe at frame 8 should change the sampled frames";
  for (int c = 0; c < 16; ++c)
    for (int i = 0; i < 6; ++i) EXPECT_EQ(k[static_cast<size_t>(c * 12 + i)], f[static_cast<size_t>(c * 6 + i)]);

  // The pipeline's default re-noising moves the held frame by at most 0.15·(t_last/1000)²·|noise| (t_last = 100).
  keys.params.erase("condition_noise_scale");
  const auto renoised = eval(e, g, "sample", "latent", opts);
  ASSERT_TRUE(renoised);
  const auto r = renoised->host().to_f32();
  float off = 0;
  for (int c = 0; c < 16; ++c)
    for (int i = 0; i < 6; ++i) off = std::max(off, std::fabs(r[static_cast<size_t>(c * 12 + i)] - f[static_cast<size_t>(c * 6 + i)]));
  EXPECT_GT(off, 0.0f);
  EXPECT_LT(off, 0.15f * 0.01f * 6.0f);

  // LTXConditionPipeline's default schedule: other sigmas, another video; one step cannot use it.
  keys.params["schedule"] = "linear_quadratic";
  const auto lq = eval(e, g, "sample", "latent", opts);
  ASSERT_TRUE(lq);
  EXPECT_NE(lq->host().to_f32(), r);
  keys.params["steps"] = 1;
  EXPECT_THROW(e.evaluate(g, "sample", "latent", opts), Error);
  keys.params["steps"] = 2;
  keys.params.erase("schedule");

  // Invalid input, refused by the dry run too.
  keys.params["condition_2_frame"] = 9;
  test::expect_plan_and_run_refuse(e, g, opts, "sample", "latent",
                                   "node 'sample' (ltx.sample): condition_2_frame 9 is past the video's last frame (8 for 9 frames)");
  // A latent of another size is refused naming the port (condition_1 unconnected: still "condition_2").
  Graph small = g;
  Node tiny = *small.find("sample");
  tiny.id = "tiny";
  tiny.params = {{"steps", 2}, {"guidance", 1.0}, {"width", 32}, {"height", 32}, {"num_frames", 9}};
  tiny.inputs.erase("condition_1");
  tiny.inputs.erase("condition_2");
  small.nodes.push_back(tiny);
  Node& other = *small.find("sample");
  other.params["condition_2_frame"] = 8;
  other.inputs.erase("condition_1");
  other.inputs["condition_2"] = {"tiny", "latent"};
  test::expect_plan_and_run_refuse(e, small, opts, "sample", "latent", "condition_2: latent [1, 16, 2, 1, 1]");
  test::expect_plan_and_run_refuse(e, small, opts, "sample", "latent", "should be [1, 16, f, 3, 2] (the video's latent size)");
  keys.params["condition_2_frame"] = 8;
  keys.inputs["image"] = {"first", "latent"};
  test::expect_plan_and_run_refuse(e, g, opts, "sample", "latent", "connect the image to condition_1 at frame 0 instead");
}

// By default ltx.encode_image normalises a draw from the encoder's distribution for its seed (drawn on the
// device), as LTXImageToVideoPipeline's retrieve_latents samples: what normalising the CPU reference's draw from
// the same moments gives. kGraph is a format 1 file, whose node left `sample` out when that meant the mean: it
// keeps the mean (core/document.cpp migrates it to an explicit false).
TEST_F(LtxGraph, EncodeImageSamplesTheDistributionWithTheNodesSeed) {
  const Graph g = parse_graph(kGraph);
  ASSERT_EQ(g.find("first")->params, (Json{{"sample", false}}));
  std::string text = kGraph;
  text.replace(text.find(R"("lattice": 1)"), 12, R"("lattice": )" + std::to_string(kLatticeFormatVersion));
  Graph current = parse_graph(text);
  current.find("first")->params = {{"seed", 9}};  // sample: the default
  MemoryCache mem;
  Engine e(&mem);
  const auto mean = eval(e, g, "first", "latent", opts);
  const auto sampled = eval(e, current, "first", "latent", opts);
  auto image = std::dynamic_pointer_cast<const ImageData>(e.evaluate(g, "image", "image", opts));
  ASSERT_TRUE(mean && sampled && image);
  gpu::Context& ctx = env.get<GpuService>()->context();
  WeightSource src = WeightSource::open(dir / "tiny-ltx" / "vae");
  DeviceWeights weights(src, ctx);
  LtxVae vae(detect_ltx_vae_config(src), weights);
  std::vector<float> x(static_cast<size_t>(3 * image->width * image->height));
  for (int k = 0; k < 3; ++k)
    for (int y = 0; y < image->height; ++y)
      for (int q = 0; q < image->width; ++q) x[(static_cast<size_t>(k) * image->height + y) * image->width + q] = image->at(q, y, k) * 2.0f - 1.0f;
  gpu::CommandStream s(ctx);
  const auto [m, lv] = vae.encode(s, gpu::Tensor::from_floats(ctx, x, {1, 3, 1, image->height, image->width}));
  const gpu::Tensor drawn = gpu::Tensor::from_floats(ctx, test::sample_latent_reference(m.to_floats(), lv.to_floats(), 9), m.shape());
  gpu::CommandStream s2(ctx);
  const gpu::Tensor want = vae.normalize(s2, drawn), want_mean = vae.normalize(s2, m);
  s2.finish();
  const std::vector<float> got = sampled->host().to_f32();
  EXPECT_TRUE(test::within_tolerance(got, want.to_floats()));
  EXPECT_TRUE(test::within_tolerance(mean->host().to_f32(), want_mean.to_floats()));
  EXPECT_NE(got, mean->host().to_f32());
}

TEST_F(LtxGraph, TwoStagesUpsampleThenRefineHalfTheSteps) {
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  const auto bigger = eval(e, g, "bigger", "latent", opts);
  ASSERT_TRUE(bigger);
  EXPECT_EQ(bigger->shape(), (std::vector<int64_t>{1, 16, 2, 6, 4}));
  const auto refined = eval(e, g, "refine", "latent", opts);
  ASSERT_TRUE(refined);
  EXPECT_EQ(refined->shape(), (std::vector<int64_t>{1, 16, 2, 6, 4}));
  for (float v : refined->host().to_f32()) ASSERT_TRUE(std::isfinite(v));
  // The refining pass must be given the upsampled size.
  g.find("refine")->params["width"] = 64;
  EXPECT_THROW(e.evaluate(g, "refine", "latent", opts), Error);
}

/// The dry-run plan of examples/<name>: each node's first output's planned shape, by node id; `env` (given a
/// GpuService) is the environment the plan ran in.
std::map<std::string, std::string> planned_shapes(const std::string& name, Environment& env) {
  RenderOptions o;
  env.set(std::make_shared<GpuService>());
  o.env = &env;
  std::map<std::string, std::string> shapes;
  for (const auto& [id, info] : test::plan_example(name, o)) shapes[id] = info.shape;
  return shapes;
}

// An example graph (examples/<file>) to plan from the configs alone, changed as a test needs: plan(id) is node id's
// plan; the device service is set, to show it never starts.
struct ExamplePlanner {
  explicit ExamplePlanner(const char* file) {
    env.set(std::make_shared<GpuService>());
    o.env = &env;
    o.base_dir = fs::path(LATTICE_SOURCE_DIR) / "examples";
    g = load_graph_file(o.base_dir / file);
  }
  PlanInfo plan(const std::string& id) {
    for (const auto& row : e.plan(g, o))
      if (row.id == id) return row.outputs.at(0).second;
    return {};
  }
  Environment env;
  RenderOptions o;
  Graph g;
  MemoryCache mem;
  Engine e{&mem};
};

TEST(LtxExample, DryRunPlansFromTheConfigsAlone) {
  Environment env;
  std::map<std::string, std::string> shapes = planned_shapes("ltx-t2v.lattice", env);
  EXPECT_NE(shapes["transformer"].find("LTX-Video transformer 28 blocks, width 2048"), std::string::npos) << shapes["transformer"];
  EXPECT_NE(shapes["prompt"].find("LTX conditioning [1, 128, 4096]"), std::string::npos) << shapes["prompt"];
  EXPECT_NE(shapes["sample"].find("latent [1, 128, 16, 15, 22]"), std::string::npos) << shapes["sample"];
  EXPECT_NE(shapes["decode"].find("video 121 frames 704x480"), std::string::npos) << shapes["decode"];
  EXPECT_FALSE(env.get<GpuService>()->started());
}

TEST(LtxExample, DryRunPlansTheTextLengthThePromptsAreEncodedAt) {
  // examples/ltx-t2v.lattice with both prompts at 512 tokens: the sampler's plan runs its cross-attention over
  // 512 text tokens (more FLOPs and activations than at the example's 128); prompts of different lengths are
  // refused, as the run refuses them.
  ExamplePlanner ex("ltx-t2v.lattice");
  const PlanInfo at128 = ex.plan("sample");
  for (const char* id : {"prompt", "negative"}) ex.g.find(id)->params["max_length"] = 512;
  const PlanInfo at512 = ex.plan("sample");
  EXPECT_GT(at512.flops, at128.flops);
  EXPECT_GT(at512.activation_bytes, at128.activation_bytes);
  ex.g.find("negative")->params["max_length"] = 128;
  test::expect_refused([&] { ex.plan("sample"); }, ErrorKind::InvalidInput,
                       "node 'sample' (ltx.sample): the negative prompt's 128 tokens differ from the prompt's 512");
  EXPECT_FALSE(ex.env.get<GpuService>()->started());
}

TEST(LtxExample, TwoStageImageToVideoPlansTheRefiningSteps) {
  Environment env;
  std::map<std::string, std::string> shapes = planned_shapes("ltx-i2v-upscale.lattice", env);
  // The first frame's encode (a 384x256 image) and the decode at the end plan their shapes.
  EXPECT_EQ(shapes["first"], "latent [1, 128, 1, 8, 12]");
  EXPECT_NE(shapes["upsample"].find("latent [1, 128, 13, 16, 24]"), std::string::npos) << shapes["upsample"];
  EXPECT_NE(shapes["refine"].find("4992 tokens, 4 steps"), std::string::npos) << shapes["refine"];
  EXPECT_NE(shapes["decode"].find("video 97 frames 768x512"), std::string::npos) << shapes["decode"];
}

TEST(LtxExample, KeyframesExamplePlansFirstAndLastFrame) {
  Environment env;
  std::map<std::string, std::string> shapes = planned_shapes("ltx-keyframes.lattice", env);
  // 13 x 15 x 22 video tokens and the last frame's 15 x 22 appended.
  EXPECT_NE(shapes["sample"].find("latent [1, 128, 13, 15, 22], 4620 tokens, 30 steps"), std::string::npos) << shapes["sample"];
  EXPECT_NE(shapes["decode"].find("video 97 frames 704x480"), std::string::npos) << shapes["decode"];
  EXPECT_FALSE(env.get<GpuService>()->started());
}

// The example's first stage with its image as condition_1 (frame 0) and again as a keyframe at the last frame:
// the plan runs the video's 1248 tokens and the keyframe's 96, and holds more than with the image input.
TEST(LtxExample, KeyframeConditionsPlanTheirAppendedTokens) {
  ExamplePlanner ex("ltx-i2v-upscale.lattice");
  const PlanInfo image = ex.plan("sample");
  Node& sample = *ex.g.find("sample");
  sample.inputs["condition_1"] = sample.inputs.at("image");
  sample.inputs["condition_2"] = sample.inputs.at("image");
  sample.inputs.erase("image");
  sample.params["condition_2_frame"] = 96;
  const PlanInfo keyed = ex.plan("sample");
  EXPECT_NE(image.shape.find("1248 tokens"), std::string::npos) << image.shape;
  EXPECT_NE(keyed.shape.find("1344 tokens"), std::string::npos) << keyed.shape;
  EXPECT_GT(keyed.activation_bytes, image.activation_bytes);
  EXPECT_GT(keyed.flops, image.flops);
  EXPECT_FALSE(ex.env.get<GpuService>()->started());
}

// ltx.encode_image and ltx.encode_video plan the latent ltx.sample reads, with the models' 16 channels (the
// transformer's and the VAE's, not the released 128), as the run makes it.
TEST_F(LtxGraph, EncodesPlanTheLatentTheRunMakes) {
  Graph g = parse_graph(kGraph);
  Json doc = graph_to_json(g);
  doc["nodes"].push_back(Json::parse(R"({"id": "clip", "type": "ltx.encode_video",
      "inputs": {"vae": {"node": "vae", "output": "vae"}, "video": {"node": "decode", "output": "video"}}})"));
  g = graph_from_json(doc, "test");
  MemoryCache mem;
  Engine e(&mem);
  std::map<std::string, PlanInfo> plan;
  for (const auto& row : e.plan(g, opts)) plan[row.id] = row.outputs.at(0).second;
  EXPECT_EQ(plan["first"].shape, "latent [1, 16, 1, 3, 2]");
  EXPECT_EQ(plan["clip"].shape, "latent [1, 16, 2, 3, 2]");
  EXPECT_GT(plan["first"].activation_bytes, 0u);
  EXPECT_GT(plan["clip"].activation_bytes, plan["first"].activation_bytes);
  EXPECT_EQ(plan["sample"].shape.rfind("latent [1, 16, 2, 3, 2], 12 tokens", 0), 0u) << plan["sample"].shape;
  EXPECT_EQ(plan["i2v"].shape.rfind("latent [1, 16, 2, 3, 2], 12 tokens", 0), 0u) << plan["i2v"].shape;
  EXPECT_EQ(plan["bigger"].shape.rfind("latent [1, 16, ", 0), 0u) << plan["bigger"].shape;
  EXPECT_FALSE(env.get<GpuService>()->started());
  EXPECT_EQ(eval(e, g, "first", "latent", opts)->shape(), (std::vector<int64_t>{1, 16, 1, 3, 2}));
  EXPECT_EQ(eval(e, g, "clip", "latent", opts)->shape(), (std::vector<int64_t>{1, 16, 2, 3, 2}));
}

// What the encoders and the image-to-video sampler cannot take is invalid input, refused by the dry run (from the
// upstream plans' sizes) and by the run alike, naming the node.
TEST_F(LtxGraph, InputsTheEncodersAndTheSamplerCannotTakeAreRefusedByThePlanAndTheRun) {
  for (int i = 0; i < 9; ++i) {  // 9 frames of 66x34 (sides not multiples of 32) and 8 of 64x96
    char name[32];
    std::snprintf(name, sizeof name, "odd.%04d.png", i + 1);
    write_image(dir / name, *test::moving_gradient(66, 34, i), "8", nullptr);
    std::snprintf(name, sizeof name, "f.%04d.png", i + 1);
    if (i < 8) write_image(dir / name, *test::moving_gradient(64, 96, i), "8", nullptr);
  }
  const Json extra = Json::parse(R"([
    {"id": "wide", "type": "image.constant", "params": {"width": 80, "height": 32}},
    {"id": "wide_latent", "type": "ltx.encode_image", "inputs": {"vae": {"node": "vae", "output": "vae"}, "image": {"node": "wide", "output": "image"}}},
    {"id": "odd", "type": "video.load", "params": {"path": "odd.####.png"}},
    {"id": "odd_latent", "type": "ltx.encode_video", "inputs": {"vae": {"node": "vae", "output": "vae"}, "video": {"node": "odd", "output": "video"}}},
    {"id": "eight", "type": "video.load", "params": {"path": "f.####.png"}},
    {"id": "eight_latent", "type": "ltx.encode_video", "inputs": {"vae": {"node": "vae", "output": "vae"}, "video": {"node": "eight", "output": "video"}}}])");
  Json doc = graph_to_json(parse_graph(kGraph));
  for (const auto& n : extra) doc["nodes"].push_back(n);
  const Graph base = graph_from_json(doc, "test");
  MemoryCache mem;
  Engine e(&mem);
  const auto refused = [&](const Graph& g, const std::string& node, const std::string& words) {
    test::expect_plan_and_run_refuse(e, g, opts, node, "latent", words);
  };
  refused(base, "wide_latent", "node 'wide_latent' (ltx.encode_image): image 80x32 is not a multiple of 32 on each side");
  refused(base, "odd_latent", "node 'odd_latent' (ltx.encode_video): video 66x34 is not a multiple of 32 on each side");
  refused(base, "eight_latent", "node 'eight_latent' (ltx.encode_video): the video has 8 frames; the LTX-Video VAE encodes 8k + 1 (e.g. 1 or 9)");
  Graph g = base;
  g.find("i2v")->params["image_index"] = 5;
  refused(g, "i2v", "node 'i2v' (ltx.sample): image_index 5 is past the video's last latent frame (1 for 9 frames)");
  g = base;
  g.find("image")->params["width"] = 96;  // its latent is 3 x 3, the video's 3 x 2
  refused(g, "i2v", "node 'i2v' (ltx.sample): image latent [1, 16, 1, 3, 3] does not fit a 64x96 video (expected [1, 16, 1, 3, 2])");
  // Refining (strength < 1): latents of another size than the sampler's, and none.
  g = base;
  g.find("refine")->params["width"] = 96;
  refused(g, "refine", "node 'refine' (ltx.sample): latent [1, 16, 2, 6, 4] does not fit a 96x192, 9-frame video [1, 16, 2, 6, 3]");
  g = base;
  g.find("sample")->params["strength"] = 0.5;
  refused(g, "sample", "node 'sample' (ltx.sample): strength < 1 needs the 'latent' input");
}

TEST_F(LtxGraph, SizesTheVaeCannotMakeAreRefusedClearly) {
  Graph g = parse_graph(kGraph);
  MemoryCache mem;
  Engine e(&mem);
  const std::pair<const char*, int> bad[] = {{"num_frames", 10}, {"width", 100}};
  for (const auto& [param, value] : bad) {
    Graph gb = g;
    gb.find("sample")->params[param] = value;
    try {
      e.evaluate(gb, "sample", "latent", opts);
      ADD_FAILURE() << param;
    } catch (const Error& err) {
      EXPECT_EQ(err.kind(), ErrorKind::InvalidInput) << err.what();
      EXPECT_NE(std::string(err.what()).find(param), std::string::npos) << err.what();
    }
  }
  // The sizes suggested are the nearest ones the VAE can make.
  Graph small = g;
  small.find("sample")->params["width"] = 48;
  small.find("sample")->params["height"] = 32;
  try {
    e.plan(small, opts);
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("(got 48x32; e.g. 32x32 or 64x32)"), std::string::npos) << err.what();
  }
  // guidance > 1 without a negative prompt: invalid input, refused by the dry run too.
  g.find("sample")->params["guidance"] = 3.0;
  test::expect_plan_and_run_refuse(e, g, opts, "sample", "latent",
                                   "node 'sample' (ltx.sample): guidance > 1 needs the 'negative' input");
  // A FLUX transformer is not an LTX one.
  g.find("dit")->params["path"] = "inputs.safetensors";
  try {
    e.evaluate(g, "sample", "latent", opts);
    FAIL();
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("not an LTX-Video transformer"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {

/// Collects previews, as the editor's viewer would.
struct LtxPreviewWatcher : Observer {
  std::vector<std::pair<int, std::shared_ptr<const ImageData>>> seen;
  bool wants_previews() const override { return true; }
  void node_preview(const std::string& id, int step, int, std::shared_ptr<const ImageData> image) override {
    if (id == "sample") seen.emplace_back(step, std::move(image));
  }
};

TEST_F(LtxGraph, SamplerPreviewsTheMiddleFrameEachStep) {
  Graph g = parse_graph(kGraph);
  g.find("sample")->inputs["preview_vae"] = {"vae", "vae"};
  MemoryCache mem;
  Engine e(&mem);
  LtxPreviewWatcher watcher;
  RenderOptions o = opts;
  o.targets = {"sample"};
  o.observer = &watcher;
  e.render(g, o);
  ASSERT_EQ(watcher.seen.size(), 2u);  // two steps, one latent-sized (2 x 3) RGB picture each
  for (const auto& [step, img] : watcher.seen) {
    ASSERT_TRUE(img);
    EXPECT_EQ(img->width, 2);
    EXPECT_EQ(img->height, 3);
    for (float v : img->pixels) ASSERT_TRUE(v >= 0.0f && v <= 1.0f);
  }
  // The VAE was uploaded only to fit the preview projection (kept with the handle), then released, so that
  // it does not hold device memory beside the transformer while sampling.
  const auto vae = std::dynamic_pointer_cast<const LtxVaeHandle>(e.evaluate(g, "vae", "vae", o));
  ASSERT_TRUE(vae);
  bool refitted = false;
  vae->preview_projection([&] {
    refitted = true;
    return LatentRgbProjection{};
  });
  EXPECT_FALSE(refitted);  // the handle the sampler fitted
  EXPECT_FALSE(vae->resident());
}

}  // namespace
}  // namespace lattice
