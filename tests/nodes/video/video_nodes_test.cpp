// Video nodes through the engine: video.load -> video.save (movie and sequence) reporting the files written,
// video.frame by index and following the render frame, and the errors users see.
#include <gtest/gtest.h>

#include "core/document.h"
#include "core/engine.h"
#include "nodes/image/image_io.h"
#include "nodes/video/ffmpeg_io.h"
#include "nodes/video/sequence.h"
#include "tests/nodes/video/video_test_util.h"
#include "tests/support/refusal.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class VideoNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    opts.output_dir = tmp.path / "out";
    opts.base_dir = tmp.path;
    VideoEncodeOptions o;
    o.preset = "ultrafast";
    o.crf = 8;
    o.fps_num = 25;
    VideoWriter wr(tmp.path / "in.mp4", 40, 24, o);
    for (int t = 0; t < 6; ++t) wr.push(*test::moving_gradient(40, 24, t));
    wr.finish();
  }
  test::TempDir tmp{"lattice_video_nodes"};
  RenderOptions opts;
  MemoryCache mem;
  Engine engine{&mem};
};

TEST_F(VideoNodes, LoadSaveMovieAndSequence) {
  const Graph g = parse_graph(R"({"lattice":1,"nodes":[
      {"id":"l","type":"video.load","params":{"path":"in.mp4","start":1,"count":4}},
      {"id":"m","type":"video.save","params":{"path":"clip.mp4","preset":"ultrafast","fps":12.5},
       "inputs":{"video":{"node":"l","output":"video"}}},
      {"id":"s","type":"video.save","params":{"path":"seq/f.####.png","first_number":10},
       "inputs":{"video":{"node":"l","output":"video"}}}]})");
  const RenderReport r = engine.render(g, opts);
  ASSERT_EQ(r.outputs.size(), 5u);  // the movie and four frames
  const fs::path movie = opts.output_dir / "clip.mp4";
  EXPECT_NE(std::find(r.outputs.begin(), r.outputs.end(), fs::absolute(movie).string()), r.outputs.end());
  auto v = read_video(movie, {});
  EXPECT_EQ(v->frame_count(), 4);
  EXPECT_EQ(v->fps_num, 25);
  EXPECT_EQ(v->fps_den, 2);
  EXPECT_GT(test::psnr(*test::moving_gradient(40, 24, 1), *v->frames[0]), 34.0);  // decoded and re-encoded
  const auto files = list_frame_sequence(opts.output_dir / "seq" / "f.####.png");
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files.front().first, 10);
  // Rendering again finds everything in the cache and the files present.
  const RenderReport again = engine.render(g, opts);
  EXPECT_EQ(again.executed, 0);
  EXPECT_EQ(again.outputs.size(), 5u);
}

TEST_F(VideoNodes, FrameByIndexAndByRenderFrame) {
  const Graph g = parse_graph(R"({"lattice":1,"nodes":[
      {"id":"l","type":"video.load","params":{"path":"in.mp4"}},
      {"id":"f","type":"video.frame","params":{"index":-1,"follow_render_frame":true},
       "inputs":{"video":{"node":"l","output":"video"}}}]})");
  for (int64_t frame : {1, 6}) {
    opts.frame = frame;
    auto img = std::dynamic_pointer_cast<const ImageData>(engine.evaluate(g, "f", "image", opts));
    ASSERT_TRUE(img);
    EXPECT_GT(test::psnr(*test::moving_gradient(40, 24, static_cast<int>(frame - 1)), *img), 38.0) << frame;
  }
  opts.frame = 7;  // frame 6 of a 6-frame video: refused by the run and, knowing the count, by the plan
  test::expect_plan_and_run_refuse(engine, g, opts, "f", "image", "node 'f' (video.frame): frame 6 is outside the video's 6 frames");
}

TEST_F(VideoNodes, UserErrors) {
  const auto fails = [&](const std::string& json, const std::string& node) {
    try {
      engine.evaluate(parse_graph(json), node, "path", opts);
    } catch (const Error& e) {
      return std::make_pair(e.kind(), std::string(e.what()));
    }
    return std::make_pair(ErrorKind::Usage, std::string("no error"));
  };
  auto [k1, m1] = fails(R"({"lattice":1,"nodes":[{"id":"l","type":"video.load","params":{"path":"missing.mp4"}},
      {"id":"s","type":"video.save","params":{"path":"x.mp4"},"inputs":{"video":{"node":"l","output":"video"}}}]})", "s");
  EXPECT_EQ(k1, ErrorKind::InvalidInput);
  EXPECT_NE(m1.find("missing.mp4"), std::string::npos) << m1;
  // A format video.save cannot write: refused with the parameters, before the load runs, and by the plan.
  for (const char* path : {"x.gif", "x.webm", "x", ""}) {
    const Graph g = parse_graph(R"({"lattice":1,"nodes":[{"id":"l","type":"video.load","params":{"path":"in.mp4"}},
        {"id":"s","type":"video.save","params":{"path":")" + std::string(path) + R"("},
         "inputs":{"video":{"node":"l","output":"video"}}}]})");
    EXPECT_FALSE(validate(g).empty()) << path;
    MemoryCache fresh;
    Engine e(&fresh);
    const std::string words = std::string("node 's' (video.save): parameter 'path': ") +
                              (*path ? "cannot tell the format of '" + std::string(path) + "'" : "is empty");
    test::expect_plan_and_run_refuse(e, g, opts, "s", "path", words);
    test::expect_refused([&] { e.render(g, opts); }, ErrorKind::InvalidInput, words);
    EXPECT_EQ(e.executions(), 0u) << path;
  }
}

TEST_F(VideoNodes, DryRunPlansFromHeaders) {
  const Graph g = parse_graph(R"({"lattice":1,"nodes":[
      {"id":"l","type":"video.load","params":{"path":"in.mp4","start":1,"stride":2}},
      {"id":"f","type":"video.frame","inputs":{"video":{"node":"l","output":"video"}}}]})");
  const auto rows = engine.plan(g, opts);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].outputs.at(0).second.shape, "video 40x24x3 3 frames");
  EXPECT_EQ(rows[1].outputs.at(0).second.shape, "image 40x24x3");
}

TEST_F(VideoNodes, SequenceKeyCoversEveryFileAndNotTheFrame) {
  const Graph g = parse_graph(R"({"lattice":1,"nodes":[
      {"id":"l","type":"video.load","params":{"path":"s/a.##.png"}}]})");
  const auto v = read_video(tmp.path / "in.mp4", {});
  write_sequence(tmp.path / "s" / "a.##.png", *v, 1, "8", nullptr);
  const auto key = [&](int64_t frame) {
    opts.frame = frame;
    return engine.keys(g, opts).at(0).second;
  };
  const Key128 k0 = key(1);
  EXPECT_EQ(key(2), k0);  // '#' names the whole sequence: the render frame does not matter
  fs::remove(tmp.path / "s" / "a.06.png");
  const Key128 k1 = key(1);
  EXPECT_NE(k1, k0);  // a frame removed
  write_image(tmp.path / "s" / "a.03.png", *test::moving_gradient(40, 24, 0), "16", nullptr);
  EXPECT_NE(key(1), k1);  // a frame rewritten (another size on disk)
  opts.frame = 0;
  auto loaded = std::dynamic_pointer_cast<const VideoData>(engine.evaluate(g, "l", "video", opts));
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->frame_count(), 5);
}

}  // namespace
}  // namespace lattice
