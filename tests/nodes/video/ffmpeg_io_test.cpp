// Movie files: H.264/AAC written by VideoWriter and read back by read_video (sizes, rate, pixels within a
// PSNR bound, colours through the BT.709 matrix, frame selection, audio length and pitch), and bad inputs.
#include "nodes/video/ffmpeg_io.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "core/error.h"
#include "tests/nodes/video/video_test_util.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
using test::moving_gradient;
using test::psnr;

class FfmpegIo : public ::testing::Test {
 protected:
  test::TempDir tmp{"lattice_ffmpeg"};
  VideoEncodeOptions fast() const {
    VideoEncodeOptions o;
    o.preset = "ultrafast";
    o.crf = 8;
    return o;
  }
};

void expect_round_trip(const fs::path& file, int w, int h) {
  VideoEncodeOptions o;
  o.preset = "ultrafast";
  o.crf = 8;
  o.fps_num = 24000;
  o.fps_den = 1001;
  o.queue_frames = 2;  // the producer waits on the encoder now and then
  std::vector<std::shared_ptr<ImageData>> src;
  {
    VideoWriter wr(file, w, h, o);
    for (int t = 0; t < 7; ++t) {
      src.push_back(moving_gradient(w, h, t));
      wr.push(*src.back());
    }
    wr.finish();
    EXPECT_EQ(wr.codec_name(), "libx264");
    EXPECT_EQ(wr.padded(), (w % 2) || (h % 2));
  }
  const VideoProbe p = probe_video(file);
  EXPECT_EQ(p.codec, "h264");
  EXPECT_FALSE(p.has_audio);
  auto v = read_video(file, {});
  ASSERT_EQ(v->frame_count(), 7);
  EXPECT_EQ(v->fps_num, 24000);
  EXPECT_EQ(v->fps_den, 1001);
  EXPECT_EQ(v->width(), w + w % 2);  // odd sizes are padded to even
  EXPECT_EQ(v->height(), h + h % 2);
  EXPECT_EQ(v->channels(), 3);
  EXPECT_EQ(v->audio, nullptr);
  for (int t = 0; t < 7; ++t) EXPECT_GT(psnr(*src[t], *v->frames[t]), 38.0) << "frame " << t;
  // The padding repeats the last column and row.
  if (w % 2) {
    EXPECT_NEAR(v->frames[3]->at(w, h / 2, 0), src[3]->at(w - 1, h / 2, 0), 0.03f);
  }
}

TEST_F(FfmpegIo, EvenSizeRoundTrip) { expect_round_trip(tmp.path / "even.mp4", 64, 48); }
TEST_F(FfmpegIo, OddSizeRoundTripIsPadded) { expect_round_trip(tmp.path / "odd.mp4", 33, 25); }

TEST_F(FfmpegIo, SaturatedColoursSurviveTheMatrix) {
  // 16x16 blocks of primaries: chroma subsampling does not blur their centres, so a wrong matrix or range
  // on either side shows as a wrong colour.
  const float cols[4][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 1}};
  auto img = std::make_shared<ImageData>(64, 16, 3);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 64; ++x)
      for (int k = 0; k < 3; ++k) img->at(x, y, k) = cols[x / 16][k];
  VideoWriter wr(tmp.path / "prim.mkv", 64, 16, fast());
  wr.push(*img);
  wr.finish();
  auto v = read_video(tmp.path / "prim.mkv", {});
  for (int b = 0; b < 4; ++b)
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(v->frames[0]->at(b * 16 + 8, 8, k), cols[b][k], 0.02f) << b << " " << k;
}

TEST_F(FfmpegIo, FrameSelectionAndStride) {
  const fs::path f = tmp.path / "grey.mp4";
  {
    VideoWriter wr(f, 16, 16, fast());
    for (int t = 0; t < 10; ++t) {
      ImageData g(16, 16, 1);
      std::fill(g.pixels.begin(), g.pixels.end(), 0.05f + 0.09f * static_cast<float>(t));
      wr.push(g);
    }
    wr.finish();
  }
  VideoReadOptions o;
  o.start = 2;
  o.count = 3;
  o.stride = 2;
  auto v = read_video(f, o);
  ASSERT_EQ(v->frame_count(), 3);
  EXPECT_EQ(v->fps_num, 12);  // 24 fps / stride 2
  EXPECT_EQ(v->fps_den, 1);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(v->frames[i]->at(8, 8, 1), 0.05f + 0.09f * static_cast<float>(2 + 2 * i), 0.01f);
  o.count = 0;  // to the end: 2, 4, 6, 8
  EXPECT_EQ(read_video(f, o)->frame_count(), 4);
  o.start = 10;
  EXPECT_THROW(read_video(f, o), Error);
}

TEST_F(FfmpegIo, AudioRoundTripKeepsLengthAndPitch) {
  const int rate = 44100, ch = 2;
  std::vector<float> s(static_cast<size_t>(rate) * ch);  // 1 s: 440 Hz left, 880 Hz right
  for (int i = 0; i < rate; ++i) {
    s[static_cast<size_t>(i) * 2] = 0.5f * std::sin(2 * static_cast<float>(M_PI) * 440.0f * static_cast<float>(i) / rate);
    s[static_cast<size_t>(i) * 2 + 1] = 0.5f * std::sin(2 * static_cast<float>(M_PI) * 880.0f * static_cast<float>(i) / rate);
  }
  auto audio = std::make_shared<AudioData>(rate, ch, std::move(s));
  const fs::path f = tmp.path / "sound.mp4";
  {
    VideoWriter wr(f, 32, 32, fast(), audio);
    for (int t = 0; t < 24; ++t) wr.push(*moving_gradient(32, 32, t));
    wr.finish();
  }
  EXPECT_TRUE(probe_video(f).has_audio);
  auto v = read_video(f, {});
  ASSERT_EQ(v->frame_count(), 24);
  ASSERT_NE(v->audio, nullptr);
  EXPECT_EQ(v->audio->sample_rate, rate);
  EXPECT_EQ(v->audio->channels, ch);
  EXPECT_NEAR(v->audio->seconds(), 1.0, 0.05);
  // Pitch from rising zero crossings in the middle half second.
  for (int c = 0; c < 2; ++c) {
    int crossings = 0;
    const auto& a = v->audio->samples;
    for (int64_t i = rate / 4; i < 3 * rate / 4; ++i)
      crossings += a[static_cast<size_t>(i - 1) * 2 + c] < 0 && a[static_cast<size_t>(i) * 2 + c] >= 0;
    EXPECT_NEAR(crossings * 2.0, c == 0 ? 440.0 : 880.0, 6.0) << "channel " << c;
  }
  // Frames 12.. take the second half of the audio.
  VideoReadOptions o;
  o.start = 12;
  auto half = read_video(f, o);
  ASSERT_NE(half->audio, nullptr);
  EXPECT_NEAR(half->audio->seconds(), 0.5, 0.03);
  o.audio = false;
  EXPECT_EQ(read_video(f, o)->audio, nullptr);
}

TEST_F(FfmpegIo, Mpeg4FallbackAndResampledAudio) {
  // The encoder used where FFmpeg lacks libx264, and audio at a rate AAC does not take (resampled to 48 kHz).
  const int rate = 20000;
  std::vector<float> s(static_cast<size_t>(rate) / 2);  // 0.5 s of 1 kHz, mono
  for (size_t i = 0; i < s.size(); ++i) s[i] = 0.4f * std::sin(2 * static_cast<float>(M_PI) * 1000.0f * static_cast<float>(i) / rate);
  VideoEncodeOptions o = fast();
  o.codec = "mpeg4";
  o.crf = 0;
  o.fps_num = 10;
  const fs::path f = tmp.path / "fallback.mp4";
  std::vector<std::shared_ptr<ImageData>> src;
  {
    VideoWriter wr(f, 48, 32, o, std::make_shared<AudioData>(rate, 1, std::move(s)));
    EXPECT_EQ(wr.codec_name(), "mpeg4");
    for (int t = 0; t < 5; ++t) {
      src.push_back(moving_gradient(48, 32, t, 4));  // alpha is dropped
      wr.push(*src.back());
    }
    wr.finish();
  }
  EXPECT_EQ(probe_video(f).codec, "mpeg4");
  auto v = read_video(f, {});
  ASSERT_EQ(v->frame_count(), 5);
  for (int t = 0; t < 5; ++t) EXPECT_GT(psnr(*src[t], *v->frames[t]), 33.0) << "frame " << t;
  ASSERT_NE(v->audio, nullptr);
  EXPECT_EQ(v->audio->sample_rate, 48000);
  EXPECT_EQ(v->audio->channels, 1);
  EXPECT_NEAR(v->audio->seconds(), 0.5, 0.03);
  int crossings = 0;
  const auto& a = v->audio->samples;
  for (size_t i = 4800; i < 4800 + 9600; ++i) crossings += a[i - 1] < 0 && a[i] >= 0;  // 0.2 s
  EXPECT_NEAR(crossings, 200, 3);
  o.codec = "vp9";
  EXPECT_THROW(VideoWriter(tmp.path / "x.mp4", 16, 16, o), Error);
}

TEST_F(FfmpegIo, MissingAndCorruptFilesAreInvalidInput) {
  try {
    read_video(tmp.path / "nope.mp4", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("nope.mp4"), std::string::npos);
  }
  const fs::path bad = tmp.path / "noise.mp4";
  {
    std::mt19937 rng(7);
    std::ofstream out(bad, std::ios::binary);
    for (int i = 0; i < 20000; ++i) out.put(static_cast<char>(rng() & 0xff));
  }
  for (int pass = 0; pass < 2; ++pass) {
    try {
      if (pass == 0) read_video(bad, {});
      else probe_video(bad);
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
      EXPECT_NE(std::string(e.what()).find("noise.mp4"), std::string::npos) << e.what();
    }
  }
}

TEST_F(FfmpegIo, WriterRefusesBadRequestsAndLeavesNothing) {
  // Unwritable: the parent is a file.
  std::ofstream(tmp.path / "file") << "x";
  try {
    VideoWriter wr(tmp.path / "file" / "out.mp4", 16, 16, fast());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Evaluation);
    EXPECT_NE(std::string(e.what()).find("out.mp4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(VideoWriter(tmp.path / "a.mp4", 0, 16, fast()), Error);
  VideoEncodeOptions o = fast();
  o.crf = 60;
  EXPECT_THROW(VideoWriter(tmp.path / "a.mp4", 16, 16, o), Error);
  {
    VideoWriter wr(tmp.path / "zero.mp4", 16, 16, fast());
    EXPECT_THROW(wr.finish(), Error);  // zero frames
    EXPECT_THROW(wr.push(*moving_gradient(8, 16, 0)), Error);  // wrong size
  }
  {
    VideoWriter wr(tmp.path / "abandoned.mp4", 16, 16, fast());
    wr.push(*moving_gradient(16, 16, 0));
  }
  {
    VideoWriter wr(tmp.path / "twice.mp4", 16, 16, fast());
    wr.push(*moving_gradient(16, 16, 0));
    wr.finish();
    EXPECT_THROW(wr.finish(), Error);
    EXPECT_THROW(wr.push(*moving_gradient(16, 16, 1)), Error);
  }
  EXPECT_EQ(read_video(tmp.path / "twice.mp4", {})->frame_count(), 1);
  fs::remove(tmp.path / "twice.mp4");
  EXPECT_FALSE(fs::exists(tmp.path / "zero.mp4"));
  EXPECT_FALSE(fs::exists(tmp.path / "abandoned.mp4"));
  for (const auto& e : fs::directory_iterator(tmp.path)) EXPECT_EQ(e.path().filename(), "file");  // no temporaries
}

TEST_F(FfmpegIo, FpsToRational) {
  EXPECT_EQ(fps_to_rational(23.976), std::make_pair(24000, 1001));
  EXPECT_EQ(fps_to_rational(25), std::make_pair(25, 1));
  EXPECT_EQ(fps_to_rational(29.97), std::make_pair(30000, 1001));
  EXPECT_THROW(fps_to_rational(0), Error);
}

}  // namespace
}  // namespace lattice
