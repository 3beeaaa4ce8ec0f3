// ltx.vae_decode on the tiny reference LTX-Video VAE: temporal tiles streaming into video.save (the same
// movie as from the whole decoded video, a bounded number of frames held), and the automatic spatial tile
// under a small device buffer limit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "core/document.h"
#include "core/engine.h"
#include "core/types/video.h"
#include "nodes/gpu_service.h"
#include "nodes/models/fixture.h"
#include "nodes/models/vae/tiling.h"
#include "nodes/models/ltx/vae.h"
#include "nodes/video/ffmpeg_io.h"
#include "nodes/video/sequence.h"
#include "tests/support/gpu_limits.h"
#include "tests/support/refusal.h"
#include "tests/support/render_info.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class LtxVaeDecode : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("lattice_ltx_vae_decode_" + std::to_string(::getpid()));
    fs::remove_all(root);
    Fixture vae(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_vae.safetensors");
    test::write_fixture_component(vae, "weights.", vae.config(), root / "tiny-ltx" / "vae");
    for (const char* v : {"090", "091"}) {
      Fixture old(fs::path(LATTICE_SOURCE_DIR) / "tests/golden" / ("ltx_vae_" + std::string(v) + ".safetensors"));
      test::write_fixture_component(old, "weights.", old.config(), root / ("tiny-ltx-" + std::string(v)) / "vae");
    }
    // A latent of 4 frames, 2x3 latent pixels: 25 frames of 96x64.
    std::mt19937 rng(11);
    std::normal_distribution<float> n;
    std::vector<float> v(16 * 4 * 2 * 3);
    for (float& x : v) x = n(rng);
    const HostTensor latent = HostTensor::from_f32({1, 16, 4, 2, 3}, v);
    write_safetensors(root / "latent.safetensors", {{"latent", &latent}});
    opts.base_dir = root;
    opts.output_dir = root;
    env.set(std::make_shared<GpuService>());
    opts.env = &env;
  }
  void TearDown() override { fs::remove_all(root); }

  Graph graph(const std::string& decode_params, const std::string& file, const std::string& vae = "tiny-ltx") {
    return parse_graph(R"({"lattice": 1, "nodes": [
      {"id": "vae", "type": "ltx.load_vae", "params": {"path": ")" + vae + R"("}},
      {"id": "t", "type": "tensor.load", "params": {"path": "latent.safetensors", "name": "latent"}},
      {"id": "latent", "type": "latent.from_tensor", "inputs": {"tensor": {"node": "t", "output": "tensor"}}},
      {"id": "decode", "type": "ltx.vae_decode", "params": )" + decode_params + R"(,
       "inputs": {"vae": {"node": "vae", "output": "vae"}, "latent": {"node": "latent", "output": "latent"}}},
      {"id": "save", "type": "video.save", "params": {"path": ")" + file + R"(", "crf": 0, "preset": "ultrafast"},
       "inputs": {"video": {"node": "decode", "output": "video"}}}]})");
  }

  fs::path root;
  RenderOptions opts;
  Environment env;
};

TEST_F(LtxVaeDecode, TemporalTilesStreamIntoVideoSaveAndWriteTheSameMovie) {
  const std::string params = R"({"tile_frames": 2, "overlap_frames": 1})";
  MemoryCache mem_a, mem_b;
  Engine streamed(&mem_a), whole(&mem_b);
  RenderOptions a_opts = opts, b_opts = opts;
  a_opts.targets = {"save"};
  b_opts.targets = {"save", "decode"};  // the decoder's video is asked for: no stream
  const RenderReport ra = streamed.render(graph(params, "streamed.mp4"), a_opts);
  const RenderReport rb = whole.render(graph(params, "whole.mp4"), b_opts);
  EXPECT_TRUE(test::node_info(ra, "decode").value("streamed", false));
  EXPECT_FALSE(test::node_info(rb, "decode").value("streamed", false));
  // Temporal tiles at latent frames 0, 1, 2: frames 0-7, 8-15, 16-24; at most 9 of 25 held at once.
  EXPECT_EQ(test::node_info(ra, "save").value("peak_frames_held", -1), 9);

  const auto a = read_video(root / "streamed.mp4", {}), b = read_video(root / "whole.mp4", {});
  ASSERT_EQ(a->frame_count(), 25);
  ASSERT_EQ(b->frame_count(), 25);
  EXPECT_EQ(a->width(), 96);
  EXPECT_EQ(a->height(), 64);
  for (size_t f = 0; f < 25; ++f) EXPECT_EQ(a->frames[f]->pixels, b->frames[f]->pixels) << "frame " << f;

  // A frame sequence streams too, one temporal tile's files at a time, numbered on from first_number.
  const RenderReport rs = streamed.render(graph(params, "s.####.exr"), a_opts);
  whole.render(graph(params, "w.####.exr"), b_opts);
  EXPECT_TRUE(test::node_info(rs, "save").value("streamed", false));
  EXPECT_EQ(rs.outputs.size(), 25u);
  const auto sa = read_sequence(root / "s.####.exr", {}, 25, 1), sb = read_sequence(root / "w.####.exr", {}, 25, 1);
  ASSERT_EQ(sa->frame_count(), 25);
  EXPECT_TRUE(fs::exists(root / "s.0025.exr"));
  for (size_t f = 0; f < 25; ++f) EXPECT_EQ(sa->frames[f]->pixels, sb->frames[f]->pixels) << "frame " << f;
}

TEST_F(LtxVaeDecode, AutoTileUnderASmallBufferLimitAndBadTilesRefused) {
  // The tiny decoder's largest tensor is its output: 48 channels x 25 frames x 8x8 pixels per latent pixel,
  // 300 KiB; the whole 2x3 latent needs 1.8 MiB. Under a 1.5 MiB limit the decode cannot run whole and
  // picks 2x2 latent tiles (1.2 MiB).
  Environment small;
  small.set(test::gpu_with_buffer_limit(1572864));
  RenderOptions o = opts;
  o.env = &small;
  MemoryCache mem;
  Engine e(&mem);
  const RenderReport r = e.render(graph("{}", "auto.mp4"), o);
  EXPECT_EQ(test::node_info(r, "decode").value("auto_tile", -1), 2);
  EXPECT_EQ(read_video(root / "auto.mp4", {})->frame_count(), 25);

  // Under a limit where the whole clip would allow only 1-pixel tiles but 2 latent frames allow 2-pixel
  // ones, the decode picks temporal tiles too, and gives the video of those settings made by hand.
  const LtxVaeConfig c = ltx_vae_config_from_json(Fixture(fs::path(LATTICE_SOURCE_DIR) / "tests/golden/ltx_vae.safetensors").config());
  uint64_t limit = 1;
  while (c.largest_decode_tile(limit, 2) < 2) limit += 1024;
  ASSERT_LT(c.largest_decode_tile(limit, 4), 2);
  Environment tight;
  tight.set(test::gpu_with_buffer_limit(limit));
  RenderOptions t = opts;
  t.env = &tight;
  MemoryCache mem_t, mem_h;
  Engine et(&mem_t), eh(&mem_h);
  const LtxDecodeTiling expect = ltx_auto_decode_tiling(c, {0, 2, 0, 1}, limit, 4, 2, 3);
  const RenderReport rt = et.render(graph("{}", "frames.mp4"), t);
  EXPECT_EQ(test::node_info(rt, "decode").value("auto_tile_frames", -1), expect.tile_frames);
  EXPECT_EQ(test::node_info(rt, "decode").value("auto_tile", -1), expect.tile);
  EXPECT_GE(expect.tile_frames, 2);
  eh.render(graph(R"({"tile": )" + std::to_string(expect.tile) + R"(, "overlap": )" + std::to_string(expect.overlap) +
                      R"(, "tile_frames": )" + std::to_string(expect.tile_frames) + R"(, "overlap_frames": 1})",
                  "hand.mp4"),
            opts);
  const auto ft = read_video(root / "frames.mp4", {}), fh = read_video(root / "hand.mp4", {});
  ASSERT_EQ(ft->frame_count(), 25);
  ASSERT_EQ(fh->frame_count(), 25);
  for (size_t f = 0; f < 25; ++f) EXPECT_EQ(ft->frames[f]->pixels, fh->frames[f]->pixels) << "frame " << f;

  // A small device budget tiles too: the decode's working set is kept within half of it.
  Environment lean;
  auto lean_gpu = std::make_shared<GpuService>();
  const uint64_t budget = 2 * LtxVaeConfig::kWorkingSetFactor * limit;
  lean_gpu->context().allocator().set_budget(budget);
  lean.set(lean_gpu);
  RenderOptions lo = opts;
  lo.env = &lean;
  MemoryCache mem_l;
  Engine el(&mem_l);
  const LtxDecodeTiling lean_expect =
      ltx_auto_decode_tiling(c, {0, 2, 0, 1}, auto_tile_tensor_limit(lean_gpu->context().device().max_buffer_bytes(), budget, LtxVaeConfig::kWorkingSetFactor), 4, 2, 3);
  EXPECT_EQ(lean_expect.tile_frames, expect.tile_frames);
  const RenderReport rl = el.render(graph("{}", "lean.mp4"), lo);
  EXPECT_EQ(test::node_info(rl, "decode").value("auto_tile_frames", -1), expect.tile_frames);
  EXPECT_EQ(test::node_info(rl, "decode").value("auto_tile", -1), expect.tile);

  Engine e2(&mem);
  // Tiles that cannot overlap as the decode needs: invalid input, refused by the dry run too.
  test::expect_plan_and_run_refuse(e2, graph(R"({"tile_frames": 2, "overlap_frames": 2})", "bad.mp4"), opts, "decode", "video",
                                   "node 'decode' (ltx.vae_decode): overlap_frames 2 must be at least 1 and smaller than tile_frames 2");
  test::expect_plan_and_run_refuse(e2, graph(R"({"tile": 2, "overlap": 2})", "bad.mp4"), opts, "decode", "video",
                                   "node 'decode' (ltx.vae_decode): overlap 2 must be smaller than tile 2");
}

TEST_F(LtxVaeDecode, OlderVaesDecodeAndTheSeedDrivesOnlyThe091InjectedNoise) {
  // 0.9.0 and 0.9.1 diffusers folders load through ltx.load_vae. The 0.9.1 decoder injects noise drawn from
  // the node's seed: the same seed gives the same frames, another seed others. 0.9.0 has no noise at all.
  auto frames = [&](const std::string& vae, int seed, const std::string& name) {
    MemoryCache mem;
    Engine e(&mem);
    e.render(graph(R"({"seed": )" + std::to_string(seed) + "}", name + ".####.exr", vae), opts);
    const auto seq = read_sequence(root / (name + ".####.exr"), {}, 25, 1);
    EXPECT_EQ(seq->frame_count(), 25);
    std::vector<std::vector<float>> out;
    for (const auto& f : seq->frames) out.push_back(f->pixels);
    return out;
  };
  const auto a = frames("tiny-ltx-091", 1, "a"), b = frames("tiny-ltx-091", 1, "b"), c = frames("tiny-ltx-091", 2, "c");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(frames("tiny-ltx-090", 1, "d"), frames("tiny-ltx-090", 2, "e"));
}

}  // namespace
}  // namespace lattice
