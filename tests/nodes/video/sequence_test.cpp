// Frame sequences: EXR float round trips bit exact, PNG within 8-bit quantisation, picking frames by
// position among the files present, and bad patterns.
#include "nodes/video/sequence.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "nodes/image/image_io.h"
#include "tests/nodes/video/video_test_util.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<VideoData> clip(int n, int w, int h, int c) {
  std::vector<ImagePtr> frames;
  for (int t = 0; t < n; ++t) frames.push_back(test::moving_gradient(w, h, t, c));
  return std::make_shared<VideoData>(std::move(frames), 24);
}

TEST(Sequence, ExrFloatRoundTripIsExact) {
  test::TempDir tmp("lattice_seq_exr");
  auto v = clip(4, 9, 5, 4);
  // Values a PNG could not hold: negative and over 1.
  auto hot = std::make_shared<ImageData>(*v->frames[1]);
  hot->at(0, 0, 0) = -0.25f;
  hot->at(1, 0, 1) = 7.5f;
  std::vector<ImagePtr> frames = v->frames;
  frames[1] = hot;
  VideoData src(frames, 24);
  const auto files = write_sequence(tmp.path / "shot.####.exr", src, 1001, "float", nullptr);
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].filename(), "shot.1001.exr");
  EXPECT_EQ(files[3].filename(), "shot.1004.exr");
  auto back = read_sequence(tmp.path / "shot.####.exr", {}, 30000, 1001);
  ASSERT_EQ(back->frame_count(), 4);
  EXPECT_EQ(back->fps_num, 30000);
  EXPECT_EQ(back->fps_den, 1001);
  EXPECT_EQ(back->channels(), 4);
  for (int t = 0; t < 4; ++t) EXPECT_EQ(back->frames[t]->pixels, src.frames[t]->pixels) << "frame " << t;
}

TEST(Sequence, PngRoundTripWithin8BitQuantisation) {
  test::TempDir tmp("lattice_seq_png");
  auto v = clip(3, 11, 7, 3);
  write_sequence(tmp.path / "f_##.png", *v, 0, "auto", nullptr);
  EXPECT_TRUE(fs::exists(tmp.path / "f_00.png"));
  auto back = read_sequence(tmp.path / "f_##.png", {}, 24, 1);
  ASSERT_EQ(back->frame_count(), 3);
  for (int t = 0; t < 3; ++t)
    for (size_t i = 0; i < v->frames[t]->pixels.size(); ++i)
      ASSERT_NEAR(back->frames[t]->pixels[i], v->frames[t]->pixels[i], 0.5f / 255 + 1e-6f);
}

TEST(Sequence, ListsByNumberAndPicksByPosition) {
  test::TempDir tmp("lattice_seq_list");
  const ImageData img(4, 4, 1);
  for (int n : {3, 5, 7, 8, 12}) write_image(tmp.path / ("a." + std::to_string(1000 + n).substr(1) + ".png"), img, "8", nullptr);
  write_image(tmp.path / "a.0042.png", img, "8", nullptr);   // other padding: another sequence
  write_image(tmp.path / "b.004.png", img, "8", nullptr);    // other prefix
  std::ofstream(tmp.path / "a.x09.png") << "not a frame";
  const auto files = list_frame_sequence(tmp.path / "a.###.png");
  std::vector<int64_t> numbers;
  for (const auto& [n, p] : files) numbers.push_back(n);
  EXPECT_EQ(numbers, (std::vector<int64_t>{3, 5, 7, 8, 12}));
  VideoReadOptions o;
  o.start = 1;
  o.stride = 2;
  auto v = read_sequence(tmp.path / "a.###.png", o, 24, 1);
  EXPECT_EQ(v->frame_count(), 2);  // positions 1 and 3: frames 5 and 8
  EXPECT_EQ(v->fps_den, 2);
}

TEST(Sequence, BadPatternsAndMissingFrames) {
  test::TempDir tmp("lattice_seq_bad");
  const auto kind = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::Usage;  // did not throw
  };
  EXPECT_EQ(kind([&] { read_sequence(tmp.path / "none.####.png", {}, 24, 1); }), ErrorKind::InvalidInput);
  EXPECT_EQ(kind([&] { list_frame_sequence(tmp.path / "a.##.b.##.png"); }), ErrorKind::InvalidInput);
  EXPECT_EQ(kind([&] { list_frame_sequence(tmp.path / "missing_dir" / "a.##.png"); }), ErrorKind::InvalidInput);
  // Frames of different sizes.
  write_image(tmp.path / "m.1.png", ImageData(4, 4, 3), "8", nullptr);
  write_image(tmp.path / "m.2.png", ImageData(5, 4, 3), "8", nullptr);
  EXPECT_EQ(kind([&] { read_sequence(tmp.path / "m.#.png", {}, 24, 1); }), ErrorKind::InvalidInput);
  // A corrupt frame.
  std::ofstream(tmp.path / "c.1.png") << "garbage";
  EXPECT_EQ(kind([&] { read_sequence(tmp.path / "c.#.png", {}, 24, 1); }), ErrorKind::InvalidInput);
}

}  // namespace
}  // namespace lattice
