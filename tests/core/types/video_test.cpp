#include "core/types/video.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace lattice {
namespace {

ImagePtr frame(int w, int h, int c, float v) {
  auto img = std::make_shared<ImageData>(w, h, c);
  for (size_t i = 0; i < img->pixels.size(); ++i) img->pixels[i] = v + 0.001f * static_cast<float>(i);
  return img;
}

TEST(Video, DescribesAndTimesItsFrames) {
  VideoData v({frame(4, 3, 3, 0), frame(4, 3, 3, 1), frame(4, 3, 3, 2)}, 24000, 1001);
  EXPECT_EQ(v.frame_count(), 3);
  EXPECT_EQ(v.width(), 4);
  EXPECT_NEAR(v.fps(), 23.976, 1e-3);
  EXPECT_NEAR(v.seconds(), 3 * 1001.0 / 24000, 1e-12);
  EXPECT_EQ(v.describe(), "video 4x3x3 3 frames @ 23.976 fps");
}

TEST(Video, RefusesInconsistentFramesNamingTheFrame) {
  try {
    VideoData v({frame(4, 3, 3, 0), frame(4, 3, 3, 0), frame(4, 4, 3, 0)}, 24);
    FAIL() << "mismatched frame accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Evaluation);
    EXPECT_NE(std::string(e.what()).find("frame 2 is 4x4x3, frame 0 is 4x3x3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(VideoData({}, 24), Error);
  EXPECT_THROW(VideoData({frame(2, 2, 1, 0)}, 0), Error);
  EXPECT_THROW(VideoData({frame(2, 2, 1, 0)}, 24, -1), Error);
  EXPECT_THROW(VideoData({frame(2, 2, 1, 0), nullptr}, 24), Error);
}

TEST(Audio, ChecksItsLayout) {
  AudioData a(48000, 2, std::vector<float>(96000, 0.5f));
  EXPECT_EQ(a.frames(), 48000);
  EXPECT_DOUBLE_EQ(a.seconds(), 1.0);
  EXPECT_THROW(AudioData(48000, 2, std::vector<float>(3)), Error);
  EXPECT_THROW(AudioData(0, 1, {}), Error);
  EXPECT_THROW(AudioData(48000, 0, {}), Error);
}

TEST(Video, SerializationRoundTripsFramesRateAndAudio) {
  auto audio = std::make_shared<AudioData>(16000, 1, std::vector<float>{0.1f, -0.2f, 0.3f});
  VideoData v({frame(5, 2, 4, 0.25f), frame(5, 2, 4, 0.75f)}, 30000, 1001, audio);
  std::string bytes;
  ASSERT_TRUE(v.serialize(bytes));
  const Value value = deserialize_video(bytes);
  const auto* back = dynamic_cast<const VideoData*>(value.get());
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->fps_num, 30000);
  EXPECT_EQ(back->fps_den, 1001);
  ASSERT_EQ(back->frame_count(), 2);
  EXPECT_EQ(back->frames[1]->pixels, v.frames[1]->pixels);
  ASSERT_NE(back->audio, nullptr);
  EXPECT_EQ(back->audio->samples, audio->samples);
  EXPECT_EQ(back->audio->sample_rate, 16000);
}

TEST(Video, MalformedCachedBytesAreRefusedNotTrusted) {
  VideoData v({frame(3, 3, 3, 0)}, 24);
  std::string bytes;
  v.serialize(bytes);
  // Every truncation fails cleanly.
  for (size_t n = 0; n < bytes.size(); n += 7)
    EXPECT_THROW(deserialize_video(std::string_view(bytes).substr(0, n)), Error) << n;
  // A frame count far larger than the bytes can hold is refused before anything is allocated.
  std::string huge = bytes;
  const uint64_t count = uint64_t{1} << 40;
  std::memcpy(huge.data() + 8, &count, sizeof count);
  EXPECT_THROW(deserialize_video(huge), Error);
  // A zero rate written into the bytes is refused as invalid input, not an evaluation error.
  std::string zero = bytes;
  const int32_t z = 0;
  std::memcpy(zero.data(), &z, sizeof z);
  try {
    deserialize_video(zero);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
  }
}

}  // namespace
}  // namespace lattice
