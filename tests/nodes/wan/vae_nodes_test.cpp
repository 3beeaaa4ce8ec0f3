// wan.load_vae, wan.vae_decode and wan.vae_encode on the golden Wan VAE written as a diffusers vae/ folder:
// a normalised latent (what wan.sample emits) decodes through the graph to the reference frames of
// diffusers' decode(raw latent), mapped to [0, 1]; the decoded video and a single image encode to the
// normalised mean that WanVae::encode gives; bad inputs are refused with clear errors.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <filesystem>

#include "core/document.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/types/video.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/vae/tiling.h"
#include "nodes/types/tensor_value.h"
#include "nodes/types/wan_vae_handle.h"
#include "nodes/video/ffmpeg_io.h"
#include "tests/nodes/video/video_test_util.h"
#include "tests/support/gpu_limits.h"
#include "tests/support/latent_sample_reference.h"
#include "tests/support/refusal.h"
#include "tests/support/render_info.h"
#include "tests/support/tiny_models.h"
#include "tests/support/tolerance.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class WanVaeNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("lattice_wan_vae_nodes_" + std::to_string(::getpid()));
    fs::remove_all(root);
    fx = std::make_unique<Fixture>(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/wan_vae.safetensors");
    test::write_fixture_component(*fx, "weights.", fx->config(), root / "wan" / "vae");
    // The fixture's raw latent, normalised as the sampler hands it over: (raw - mean) / std.
    const WanVaeConfig c = wan_vae_config_from_json(fx->config());
    const HostTensor raw = fx->tensor("input.latent");
    std::vector<float> v = raw.to_f32();
    const int64_t per_channel = raw.shape[2] * raw.shape[3] * raw.shape[4];
    for (size_t i = 0; i < v.size(); ++i) {
      const size_t ch = i / static_cast<size_t>(per_channel);
      v[i] = (v[i] - c.latents_mean[ch]) * (1.0f / c.latents_std[ch]);
    }
    const HostTensor normalised = HostTensor::from_f32(raw.shape, v);
    write_safetensors(root / "latent.safetensors", {{"latent", &normalised}});
    opts.base_dir = root;
    env.set(std::make_shared<GpuService>());
    opts.env = &env;
  }
  void TearDown() override { fs::remove_all(root); }

  Graph graph(const std::string& decode_params, const std::string& extra = "") {
    return parse_graph(R"({"lattice": 1, "nodes": [
      {"id": "vae", "type": "wan.load_vae", "params": {"path": "wan"}},
      {"id": "t", "type": "tensor.load", "params": {"path": "latent.safetensors", "name": "latent"}},
      {"id": "latent", "type": "latent.from_tensor", "inputs": {"tensor": {"node": "t", "output": "tensor"}}},
      {"id": "decode", "type": "wan.vae_decode", "params": )" + decode_params + R"(,
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "latent": {"node": "latent", "output": "latent"}}},
      {"id": "encode", "type": "wan.vae_encode",
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "video": {"node": "decode", "output": "video"}}},
      {"id": "still", "type": "image.constant", "params": {"width": 48, "height": 32}},
      {"id": "encode_image", "type": "wan.vae_encode",
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "image": {"node": "still", "output": "image"}}})" +
                       extra + R"(
    ]})");
  }

  // The golden VAE loaded directly (not through the nodes), on a context of its own.
  struct DirectVae {
    explicit DirectVae(const fs::path& dir)
        : src(WeightSource::open(dir)), weights(src, gpu.context()), vae(detect_wan_vae_config(src), weights) {}
    GpuService gpu;
    WeightSource src;
    DeviceWeights weights;
    const WanVae vae;
  };

  fs::path root;
  std::unique_ptr<Fixture> fx;
  RenderOptions opts;
  Environment env;
};

TEST_F(WanVaeNodes, DecodeMatchesTheReferenceAndEncodeRoundTrips) {
  Graph g = graph(R"({"fps": 16})");
  MemoryCache mem;
  Engine e(&mem);
  auto video = std::dynamic_pointer_cast<const VideoData>(e.evaluate(g, "decode", "video", opts));
  ASSERT_TRUE(video);
  ASSERT_EQ(video->frame_count(), 9);
  ASSERT_EQ(video->width(), 48);
  ASSERT_EQ(video->height(), 32);
  EXPECT_EQ(video->fps_num, 16);
  EXPECT_EQ(video->fps_den, 1);
  // diffusers' decode of the raw latent, mapped to [0, 1] as the pipeline's postprocessing does.
  const std::vector<float> ref = fx->tensor("output.decoded").to_f32();  // [1, 3, 9, 32, 48]
  float max_err = 0;
  for (int f = 0; f < 9; ++f)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 48; ++x) {
          const float r = ref[((static_cast<size_t>(c) * 9 + f) * 32 + y) * 48 + x] / 2.0f + 0.5f;
          max_err = std::max(max_err, std::fabs(video->frames[f]->at(x, y, c) - r));
        }
  EXPECT_LE(max_err, 1e-4f);

  // Encoding the decoded video through the graph equals normalize(encode(...)) done directly.
  auto latent = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "encode", "latent", opts));
  ASSERT_TRUE(latent);
  GpuService gpu;
  gpu::Context& ctx = gpu.context();
  const gpu::Tensor z = latent->device(ctx);
  EXPECT_EQ(z.shape(), (gpu::Shape{1, 16, 3, 4, 6}));
  WeightSource src = WeightSource::open(root / "wan" / "vae");
  DeviceWeights weights(src, ctx);
  const WanVae vae(detect_wan_vae_config(src), weights);
  gpu::CommandStream s(ctx);
  const gpu::Tensor x = gpu::Tensor::from_floats(ctx, wan_encoder_input(video->frames), {1, 3, 9, 32, 48});
  const gpu::Tensor direct = vae.normalize(s, vae.encode(s, x).first);
  s.finish();
  const std::vector<float> a = z.to_floats(), b = direct.to_floats();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5f) << i;

  // One image encodes to a single latent frame (image-to-video conditioning).
  auto still = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "encode_image", "latent", opts));
  ASSERT_TRUE(still);
  EXPECT_EQ(still->device(ctx).shape(), (gpu::Shape{1, 16, 1, 4, 6}));
}

// With `sample` on, wan.vae_encode normalises a draw from the encoder's distribution for its seed (drawn on the
// device): what normalising the CPU reference's draw from the same moments gives; off (the default) the mean.
TEST_F(WanVaeNodes, EncodeSamplesTheDistributionWithTheNodesSeed) {
  const Graph g = graph("{}", R"(,
      {"id": "sampled", "type": "wan.vae_encode", "params": {"sample": true, "seed": 5},
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "image": {"node": "still", "output": "image"}}})");
  MemoryCache mem;
  Engine e(&mem);
  auto still = std::dynamic_pointer_cast<const ImageData>(e.evaluate(g, "still", "image", opts));
  auto mean = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "encode_image", "latent", opts));
  auto sampled = std::dynamic_pointer_cast<const TensorValue>(e.evaluate(g, "sampled", "latent", opts));
  ASSERT_TRUE(still && mean && sampled);
  DirectVae direct_vae(root / "wan" / "vae");
  gpu::Context& ctx = direct_vae.gpu.context();
  const WanVae& vae = direct_vae.vae;
  gpu::CommandStream s(ctx);
  const auto [m, lv] = vae.encode(s, gpu::Tensor::from_floats(ctx, wan_encoder_input({still}), {1, 3, 1, 32, 48}));
  s.finish();
  const gpu::Tensor drawn = gpu::Tensor::from_floats(ctx, test::sample_latent_reference(m.to_floats(), lv.to_floats(), 5), m.shape());
  gpu::CommandStream s2(ctx);
  const gpu::Tensor want = vae.normalize(s2, drawn), want_mean = vae.normalize(s2, m);
  s2.finish();
  const std::vector<float> got = sampled->device(ctx).to_floats();
  EXPECT_TRUE(test::within_tolerance(got, want.to_floats()));
  EXPECT_TRUE(test::within_tolerance(mean->device(ctx).to_floats(), want_mean.to_floats()));
  EXPECT_NE(got, mean->device(ctx).to_floats());
}

TEST_F(WanVaeNodes, TiledDecodeNodeCoveringTheLatentIsTheUntiledDecode) {
  MemoryCache mem;
  Engine e(&mem);
  Graph whole = graph(R"({"fps": 24})"), tiled = graph(R"({"fps": 24, "tile": 6, "overlap": 2, "chunk": 2})");
  auto a = std::dynamic_pointer_cast<const VideoData>(e.evaluate(whole, "decode", "video", opts));
  auto b = std::dynamic_pointer_cast<const VideoData>(e.evaluate(tiled, "decode", "video", opts));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b->fps_num, 24);
  // The 4x6 latent fits in one 6-latent tile: tiling changes nothing; chunk 2 only changes float order.
  float max_err = 0;
  for (size_t f = 0; f < a->frames.size(); ++f)
    for (size_t i = 0; i < a->frames[f]->pixels.size(); ++i)
      max_err = std::max(max_err, std::fabs(a->frames[f]->pixels[i] - b->frames[f]->pixels[i]));
  EXPECT_LE(max_err, 1e-5f);
}

// Plan == run: the dry run's wan.vae_decode (the loaded VAE's config, the run's TileGrid) counts every tile's
// causal caches as the decode keeps them on the device between chunks (the budget has room), to the byte: after
// each chunk but the last, the device holds the tile latents and those caches.
TEST_F(WanVaeNodes, PlanCountsTheCachesTheTiledDecodeKeeps) {
  MemoryCache mem;
  Engine e(&mem);
  const Graph g = graph(R"({"tile": 3, "overlap": 1})");
  const PlanInfo* plan = nullptr;
  const std::vector<PlanRow> rows = e.plan(g, opts);
  for (const PlanRow& r : rows)
    if (r.id == "decode") plan = &r.outputs.at(0).second;
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->meta["tiles"].get<int64_t>(), 6);  // 2 rows x 3 columns of a 4x6 latent
  const uint64_t planned = plan->meta["cache_bytes"].get<uint64_t>();

  DirectVae direct_vae(root / "wan" / "vae");
  gpu::Context& ctx = direct_vae.gpu.context();
  const WanVae& vae = direct_vae.vae;
  gpu::CommandStream s(ctx);
  const HostTensor raw = fx->tensor("input.latent");
  const gpu::Tensor z = gpu::Tensor::from_floats(ctx, raw.to_f32(), raw.shape);  // [1, 16, 3, 4, 6]
  s.finish();
  const uint64_t base = ctx.allocator().current_device_bytes(), latents = 6 * 16 * 3 * 3 * 3 * sizeof(float);
  uint64_t kept = 0;
  vae.decode_frames(s, z, 3, 1, 1, [](const HostTensor&, int64_t) {}, [&](int done, int total) {
    if (done < total) kept = std::max(kept, ctx.allocator().current_device_bytes() - base - latents);
  });
  EXPECT_GT(planned, 0u);
  EXPECT_EQ(kept, planned);
  EXPECT_GE(plan->activation_bytes, planned);

  // An overlap the run refuses is refused by the dry run, naming the node.
  test::expect_plan_and_run_refuse(e, graph(R"({"tile": 3, "overlap": 3})"), opts, "decode", "video",
                                   "node 'decode' (wan.vae_decode): overlap 3 must be smaller than tile 3");
}

// wan.vae_decode feeding only video.save streams: chunk k is encoded while chunk k+1 decodes. The movie
// equals the one written from the whole decoded video, frame for frame once decoded back; the host held one
// chunk of frames at a time; and the streamed decode left nothing in the cache (asking for the video
// afterwards decodes it again, to the frames the movie holds).
TEST_F(WanVaeNodes, DecodeStreamsIntoVideoSaveAndWritesTheSameMovie) {
  opts.output_dir = root;
  auto render = [&](const std::string& file, std::vector<std::string> targets, Engine& e) {
    Graph g = graph(R"({"fps": 16, "chunk": 1, "tile": 4, "overlap": 1})", R"(,
      {"id": "save", "type": "video.save", "params": {"path": ")" + file + R"(", "crf": 0, "preset": "ultrafast"},
       "inputs": {"video": {"node": "decode", "output": "video"}}})");
    RenderOptions o = opts;
    o.targets = std::move(targets);
    return std::make_pair(g, e.render(g, o));
  };
  MemoryCache mem_a, mem_b;
  Engine streamed(&mem_a), whole(&mem_b);
  const auto [g, ra] = render("streamed.mp4", {"save"}, streamed);
  const auto rb = render("whole.mp4", {"save", "decode"}, whole).second;  // decode is asked for: no stream
  EXPECT_TRUE(test::node_info(ra, "decode").value("streamed", false));
  EXPECT_TRUE(test::node_info(ra, "save").value("streamed", false));
  // 3 latent frames in chunks of 1: 1 + 4 + 4 video frames; at most 4 held at once of 9.
  EXPECT_EQ(test::node_info(ra, "save").value("peak_frames_held", -1), 4);
  EXPECT_FALSE(test::node_info(rb, "decode").value("streamed", false));
  EXPECT_FALSE(test::node_info(rb, "save").contains("streamed"));

  const auto a = read_video(root / "streamed.mp4", {}), b = read_video(root / "whole.mp4", {});
  ASSERT_EQ(a->frame_count(), 9);
  ASSERT_EQ(b->frame_count(), 9);
  for (size_t f = 0; f < 9; ++f) EXPECT_EQ(a->frames[f]->pixels, b->frames[f]->pixels) << "frame " << f;

  // The cache holds the movie's node but not the streamed video: asking for it runs the decoder again.
  const size_t before = streamed.executions();
  auto video = std::dynamic_pointer_cast<const VideoData>(streamed.evaluate(g, "decode", "video", opts));
  ASSERT_TRUE(video);
  EXPECT_EQ(streamed.executions(), before + 1);
  auto again = std::dynamic_pointer_cast<const VideoData>(whole.evaluate(g, "decode", "video", opts));
  ASSERT_TRUE(again);
  for (size_t f = 0; f < 9; ++f) EXPECT_EQ(video->frames[f]->pixels, again->frames[f]->pixels);
  // Rendering the movie again is a cache hit: nothing decodes.
  const size_t hits = streamed.executions();
  RenderOptions o = opts;
  o.targets = {"save"};
  streamed.render(g, o);
  EXPECT_EQ(streamed.executions(), hits);
}

// tile 0 decodes whole while the decoder's largest tensor fits one device buffer; under a smaller limit it
// picks the largest tile that fits, reports it, and gives exactly the video of that tile set by hand. The
// encoder tiles itself the same way.
TEST_F(WanVaeNodes, AutoTileUnderASmallBufferLimit) {
  const WanVaeConfig c = wan_vae_config_from_json(fx->config());
  const int64_t h = 4, w = 6;  // the fixture latent
  const uint64_t whole = c.decode_peak_tensor_bytes(1, h, w);
  const uint64_t limit = c.decode_peak_tensor_bytes(1, 3, 3) + 1;  // a 3x3 tile fits, 4x4 does not
  ASSERT_LT(limit, whole);
  const int64_t tile = c.largest_decode_tile(limit, 1, h, w);
  EXPECT_EQ(tile, 3);
  EXPECT_EQ(c.largest_decode_tile(whole, 1, h, w), w);

  Environment small;
  small.set(test::gpu_with_buffer_limit(limit));
  RenderOptions o = opts;
  o.env = &small;
  MemoryCache mem;
  Engine e(&mem);
  const RenderReport r = e.render(graph(R"({"chunk": 1})"), [&] {
    RenderOptions t = o;
    t.targets = {"decode"};
    return t;
  }());
  EXPECT_EQ(test::node_info(r, "decode").value("auto_tile", -1), tile);
  auto a = std::dynamic_pointer_cast<const VideoData>(e.evaluate(graph(R"({"chunk": 1})"), "decode", "video", o));
  MemoryCache mem2;
  Engine e2(&mem2);
  auto b = std::dynamic_pointer_cast<const VideoData>(e2.evaluate(graph(R"({"chunk": 1, "tile": 3, "overlap": 2})"), "decode", "video", opts));
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->frame_count(), 9);
  for (size_t f = 0; f < 9; ++f) EXPECT_EQ(a->frames[f]->pixels, b->frames[f]->pixels) << "frame " << f;

  // A device budget too small for the whole decode's working set tiles it too: the largest tensor may take
  // a twentieth of the budget (kWorkingSetFactor 10, within half of it).
  Environment lean;
  auto lean_gpu = test::gpu_with_buffer_limit(0);
  lean_gpu->context().allocator().set_budget(2 * WanVaeConfig::kWorkingSetFactor * c.decode_peak_tensor_bytes(1, 4, 5));
  EXPECT_EQ(auto_tile_tensor_limit(lean_gpu->context().device().max_buffer_bytes(), lean_gpu->context().memory_budget(),
                                   WanVaeConfig::kWorkingSetFactor), WanVaeConfig::kWorkingSetFactor * 2 * c.decode_peak_tensor_bytes(1, 4, 5) / 20);
  lean.set(lean_gpu);
  RenderOptions lo = opts;
  lo.env = &lean;
  lo.targets = {"decode"};
  MemoryCache mem4;
  Engine e4(&mem4);
  EXPECT_EQ(test::node_info(e4.render(graph(R"({"chunk": 1})"), lo), "decode").value("auto_tile", -1), 5);

  // The encoder picks its tile the same way (its own layer walk): a 48x32 image is a 4x6 latent.
  Environment enc_small;
  enc_small.set(test::gpu_with_buffer_limit(c.encode_peak_tensor_bytes(3, 3)));
  RenderOptions eo = opts;
  eo.env = &enc_small;
  eo.targets = {"encode_image"};
  MemoryCache mem3;
  Engine e3(&mem3);
  const RenderReport re = e3.render(graph("{}"), eo);
  EXPECT_EQ(test::node_info(re, "encode_image").value("auto_tile", -1), 3);
  auto still = std::dynamic_pointer_cast<const TensorValue>(e3.evaluate(graph("{}"), "encode_image", "latent", eo));
  ASSERT_TRUE(still);
  EXPECT_EQ(still->device(enc_small.get<GpuService>()->context()).shape(), (gpu::Shape{1, 16, 1, 4, 6}));
}

TEST_F(WanVaeNodes, FramesTheEncoderCannotTakeAreRefusedByThePlanAndTheRun) {
  // Movies of 8 frames (not 1 + 4k) and of 66x34 frames (not multiples of 8): the dry run knows both from the
  // files' headers and refuses them before anything runs; the run refuses them as invalid input too.
  VideoEncodeOptions vo;
  vo.preset = "ultrafast";
  vo.fps_num = 16;
  const std::pair<const char*, std::array<int, 3>> movies[] = {{"eight.mp4", {48, 32, 8}}, {"odd.mp4", {66, 34, 5}}};
  for (const auto& [name, size] : movies) {
    VideoWriter w(root / name, size[0], size[1], vo);
    for (int t = 0; t < size[2]; ++t) w.push(*test::moving_gradient(size[0], size[1], t));
    w.finish();
  }
  const std::pair<const char*, const char*> cases[] = {
      {"eight.mp4", "8 frames: the Wan VAE encodes 1 + 4k frames"}, {"odd.mp4", "frames 66x34 are not a multiple of 8"}};
  for (const auto& [name, words] : cases) {
    const Graph g = parse_graph(R"({"lattice": 1, "nodes": [
      {"id": "vae", "type": "wan.load_vae", "params": {"path": "wan"}},
      {"id": "movie", "type": "video.load", "params": {"path": ")" + std::string(name) + R"("}},
      {"id": "encode", "type": "wan.vae_encode",
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "video": {"node": "movie", "output": "video"}}}]})");
    MemoryCache mem;
    Engine e(&mem);
    test::expect_plan_and_run_refuse(e, g, opts, "encode", "latent", std::string("node 'encode' (wan.vae_encode): ") + words);
  }
}

TEST_F(WanVaeNodes, BadInputsAreRefused) {
  MemoryCache mem;
  Engine e(&mem);
  auto expect_error = [&](Graph g, const std::string& node, const std::string& port, const std::string& words) {
    try {
      e.evaluate(g, node, port, opts);
      ADD_FAILURE() << node << " accepted bad input";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(words), std::string::npos) << err.what();
    }
  };
  // An image whose sides are not multiples of 8; no frames at all; an overlap as large as the tile: invalid
  // input, refused by the dry run too.
  test::expect_plan_and_run_refuse(e, graph("{}", R"(,
      {"id": "odd", "type": "image.constant", "params": {"width": 50, "height": 32}},
      {"id": "encode_odd", "type": "wan.vae_encode",
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "image": {"node": "odd", "output": "image"}}})"),
                                   opts, "encode_odd", "latent", "multiple of 8");
  test::expect_plan_and_run_refuse(e, graph("{}", R"(,
      {"id": "encode_none", "type": "wan.vae_encode", "inputs": {"vae": {"node": "vae", "output": "vae"}}})"),
                                   opts, "encode_none", "latent", "exactly one");
  test::expect_plan_and_run_refuse(e, graph(R"({"tile": 4, "overlap": 4})"), opts, "decode", "video", "overlap");
  // A latent of another channel count than the VAE's 16.
  const HostTensor eight = HostTensor::from_f32({1, 8, 3, 4, 6}, std::vector<float>(8 * 3 * 4 * 6, 0.0f));
  write_safetensors(root / "eight.safetensors", {{"latent", &eight}});
  test::expect_plan_and_run_refuse(e, graph("{}", R"(,
      {"id": "t8", "type": "tensor.load", "params": {"path": "eight.safetensors", "name": "latent"}},
      {"id": "l8", "type": "latent.from_tensor", "inputs": {"tensor": {"node": "t8", "output": "tensor"}}},
      {"id": "decode8", "type": "wan.vae_decode",
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "latent": {"node": "l8", "output": "latent"}}})"),
                                   opts, "decode8", "video", "node 'decode8' (wan.vae_decode): latent [1, 8, 3, 4, 6]");
  // A FLUX VAE folder is not a Wan VAE.
  const Fixture flux(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/flux_vae.safetensors");
  test::write_fixture_component(flux, "weights.", flux.config(), root / "flux" / "vae");
  expect_error(parse_graph(R"({"lattice": 1, "nodes": [{"id": "vae", "type": "wan.load_vae", "params": {"path": "flux"}}]})"), "vae",
               "vae", "not a Wan VAE");
}

}  // namespace
}  // namespace lattice
