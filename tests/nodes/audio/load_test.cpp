// audio.load: a WAV written here read back sample for sample, its start/duration span, a render of frames
// plus audio.load into video.save whose movie carries that span as its audio track, the dry-run plan, and
// the errors users see (missing, unreadable, silent files; a start past the end).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>

#include "core/document.h"
#include "core/engine.h"
#include "nodes/video/ffmpeg_io.h"
#include "tests/nodes/video/video_test_util.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

constexpr int kRate = 44100;

// 1 s of stereo: 880 Hz for the first half, 440 Hz for the second; the right channel at half amplitude.
std::vector<float> tone() {
  std::vector<float> s(static_cast<size_t>(kRate) * 2);
  for (int i = 0; i < kRate; ++i) {
    const float f = i < kRate / 2 ? 880.0f : 440.0f;
    const float v = 0.5f * std::sin(2 * static_cast<float>(M_PI) * f * static_cast<float>(i) / kRate);
    s[static_cast<size_t>(i) * 2] = v;
    s[static_cast<size_t>(i) * 2 + 1] = 0.5f * v;
  }
  return s;
}

// 16-bit PCM WAV, interleaved.
void write_wav(const fs::path& path, const std::vector<float>& s, int rate, int channels) {
  std::ofstream f(path, std::ios::binary);
  const auto u32 = [&](uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  const auto u16 = [&](uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  const uint32_t data = static_cast<uint32_t>(s.size() * 2);
  f.write("RIFF", 4);
  u32(36 + data);
  f.write("WAVEfmt ", 8);
  u32(16);
  u16(1);
  u16(static_cast<uint16_t>(channels));
  u32(static_cast<uint32_t>(rate));
  u32(static_cast<uint32_t>(rate * channels * 2));
  u16(static_cast<uint16_t>(channels * 2));
  u16(16);
  f.write("data", 4);
  u32(data);
  for (float v : s) u16(static_cast<uint16_t>(static_cast<int16_t>(std::lround(v * 32767.0f))));
}

// Rising zero crossings per second of channel 0 over [from, to) sample frames.
double pitch(const AudioData& a, int64_t from, int64_t to) {
  int crossings = 0;
  for (int64_t i = from + 1; i < to; ++i)
    crossings += a.samples[static_cast<size_t>((i - 1) * a.channels)] < 0 && a.samples[static_cast<size_t>(i * a.channels)] >= 0;
  return crossings * static_cast<double>(a.sample_rate) / static_cast<double>(to - from);
}

class AudioLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    opts.output_dir = tmp.path / "out";
    opts.base_dir = tmp.path;
    write_wav(tmp.path / "tone.wav", tone(), kRate, 2);
    VideoEncodeOptions o;
    o.preset = "ultrafast";
    o.fps_num = 24;
    VideoWriter wr(tmp.path / "silent.mp4", 32, 32, o);  // 1 s, no audio
    for (int t = 0; t < 24; ++t) wr.push(*test::moving_gradient(32, 32, t));
    wr.finish();
  }
  std::pair<ErrorKind, std::string> fails(const std::string& params) {
    try {
      engine.evaluate(parse_graph(R"({"lattice":1,"nodes":[{"id":"a","type":"audio.load","params":)" + params + "}]}"),
                      "a", "audio", opts);
    } catch (const Error& e) {
      return {e.kind(), e.what()};
    }
    return {ErrorKind::Usage, "no error"};
  }
  test::TempDir tmp{"lattice_audio_load"};
  RenderOptions opts;
  MemoryCache mem;
  Engine engine{&mem};
};

TEST_F(AudioLoad, ReadsWavSamplesAndSpan) {
  const std::vector<float> want = tone();
  const auto all = read_audio(tmp.path / "tone.wav", {});
  EXPECT_EQ(all->sample_rate, kRate);
  EXPECT_EQ(all->channels, 2);
  ASSERT_EQ(all->samples.size(), want.size());
  for (size_t i = 0; i < want.size(); i += 97) EXPECT_NEAR(all->samples[i], want[i], 1.0 / 32767) << i;
  AudioReadOptions o;
  o.start = 0.25;
  o.duration = 0.5;
  const auto span = read_audio(tmp.path / "tone.wav", o);
  ASSERT_EQ(span->frames(), kRate / 2);
  for (int64_t i = 0; i < span->frames(); i += 101)
    EXPECT_NEAR(span->samples[static_cast<size_t>(i * 2 + 1)], want[static_cast<size_t>((i + kRate / 4) * 2 + 1)], 1.0 / 32767) << i;
  o.duration = 0;  // to the end
  EXPECT_EQ(read_audio(tmp.path / "tone.wav", o)->frames(), kRate - kRate / 4);
}

TEST_F(AudioLoad, FramesAndAudioLoadIntoVideoSave) {
  const Graph g = parse_graph(R"({"lattice":1,"nodes":[
      {"id":"v","type":"video.load","params":{"path":"silent.mp4","audio":false}},
      {"id":"a","type":"audio.load","params":{"path":"tone.wav","start":0.5,"duration":0.4}},
      {"id":"s","type":"video.save","params":{"path":"clip.mp4","preset":"ultrafast"},
       "inputs":{"video":{"node":"v","output":"video"},"audio":{"node":"a","output":"audio"}}}]})");
  const RenderReport r = engine.render(g, opts);
  ASSERT_EQ(r.outputs.size(), 1u);
  const fs::path movie = opts.output_dir / "clip.mp4";
  const VideoProbe p = probe_video(movie);
  EXPECT_TRUE(p.has_audio);
  EXPECT_EQ(p.frames, 24);
  const AudioProbe ap = probe_audio(movie);
  EXPECT_EQ(ap.codec, "aac");
  EXPECT_EQ(ap.sample_rate, kRate);
  EXPECT_EQ(ap.channels, 2);
  // The whole track, decoded from the movie: 0.4 s of the second half (440 Hz), not the first (880 Hz).
  const auto track = read_audio(movie, {});
  EXPECT_EQ(track->sample_rate, kRate);
  EXPECT_NEAR(track->seconds(), 0.4, 0.05);  // AAC frames of 1024 samples
  EXPECT_NEAR(pitch(*track, kRate / 20, kRate * 7 / 20), 440.0, 10.0);
  // The video as read back carries it too (trimmed to the frames' second, which it is shorter than).
  const auto v = read_video(movie, {});
  ASSERT_NE(v->audio, nullptr);
  EXPECT_NEAR(v->audio->seconds(), 0.4, 0.05);
}

TEST_F(AudioLoad, DryRunPlansFromHeaders) {
  const Graph g = parse_graph(R"({"lattice":1,"nodes":[
      {"id":"a","type":"audio.load","params":{"path":"tone.wav","start":0.75,"duration":0.5}}]})");
  const auto rows = engine.plan(g, opts);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].outputs.at(0).second.shape, "audio 44100 Hz 2 ch 0.250 s");
}

TEST_F(AudioLoad, UserErrors) {
  std::ofstream(tmp.path / "noise.wav") << "this is not a sound file";
  const auto [k1, m1] = fails(R"({"path":"missing.wav"})");
  EXPECT_EQ(k1, ErrorKind::InvalidInput);
  EXPECT_NE(m1.find("missing.wav: no such file"), std::string::npos) << m1;
  const auto [k2, m2] = fails(R"({"path":"noise.wav"})");
  EXPECT_EQ(k2, ErrorKind::InvalidInput);
  EXPECT_NE(m2.find("noise.wav: not a readable sound file"), std::string::npos) << m2;
  const auto [k3, m3] = fails(R"({"path":"silent.mp4"})");
  EXPECT_EQ(k3, ErrorKind::InvalidInput);
  EXPECT_NE(m3.find("silent.mp4: has no audio stream"), std::string::npos) << m3;
  const auto [k4, m4] = fails(R"({"path":"tone.wav","start":2})");
  EXPECT_EQ(k4, ErrorKind::InvalidInput);
  EXPECT_NE(m4.find("nothing at or after start 2"), std::string::npos) << m4;
  const auto [k5, m5] = fails(R"({"path":""})");
  EXPECT_NE(m5.find("parameter 'path' is empty"), std::string::npos) << m5;
}

}  // namespace
}  // namespace lattice
