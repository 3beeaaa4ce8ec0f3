#include "core/types/video.h"

#include <cstring>

#include "core/bytes.h"
#include "core/error.h"

namespace lattice {

AudioData::AudioData(int rate, int ch, std::vector<float> s) : sample_rate(rate), channels(ch), samples(std::move(s)) {
  if (rate <= 0 || rate > kMaxSampleRate)
    throw_eval("audio sample rate " + std::to_string(rate) + " Hz is out of range (1.." +
               std::to_string(kMaxSampleRate) + ")");
  if (ch < 1 || ch > 64) throw_eval("audio channel count " + std::to_string(ch) + " is out of range (1..64)");
  if (samples.size() % static_cast<size_t>(ch) != 0)
    throw_eval("audio holds " + std::to_string(samples.size()) + " samples, not a whole number of " +
               std::to_string(ch) + "-channel frames");
}

std::string AudioData::describe() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "audio %d ch %d Hz %.3f s", channels, sample_rate, seconds());
  return buf;
}

bool AudioData::serialize(std::string& out) const {
  ByteWriter w(out);
  w.pod<int32_t>(sample_rate);
  w.pod<int32_t>(channels);
  w.pod<uint64_t>(samples.size());
  w.bytes(samples.data(), samples.size() * sizeof(float));
  return true;
}

VideoData::VideoData(std::vector<ImagePtr> f, int num, int den, std::shared_ptr<const AudioData> a)
    : frames(std::move(f)), fps_num(num), fps_den(den), audio(std::move(a)) {
  if (frames.empty()) throw_eval("a video needs at least one frame");
  if (static_cast<int64_t>(frames.size()) > kMaxVideoFrames)
    throw_eval("video frame count " + std::to_string(frames.size()) + " is over the limit of " +
               std::to_string(kMaxVideoFrames));
  if (num <= 0 || den <= 0)
    throw_eval("video frame rate " + std::to_string(num) + "/" + std::to_string(den) + " is not positive");
  for (size_t i = 0; i < frames.size(); ++i) {
    if (!frames[i]) throw_eval("video frame " + std::to_string(i) + " is missing");
    const ImageData& a0 = *frames.front();
    const ImageData& fi = *frames[i];
    if (fi.width != a0.width || fi.height != a0.height || fi.channels != a0.channels)
      throw_eval("video frame " + std::to_string(i) + " is " + std::to_string(fi.width) + "x" +
                 std::to_string(fi.height) + "x" + std::to_string(fi.channels) + ", frame 0 is " +
                 std::to_string(a0.width) + "x" + std::to_string(a0.height) + "x" + std::to_string(a0.channels));
  }
}

size_t VideoData::bytes() const {
  size_t n = sizeof(*this) + (audio ? audio->bytes() : 0);
  for (const auto& f : frames) n += f->bytes();
  return n;
}

std::string VideoData::describe() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "video %dx%dx%d %lld frames @ %g fps%s", width(), height(), channels(),
                static_cast<long long>(frames.size()), fps(), audio ? " + audio" : "");
  return buf;
}

bool VideoData::serialize(std::string& out) const {
  ByteWriter w(out);
  w.pod<int32_t>(fps_num);
  w.pod<int32_t>(fps_den);
  w.pod<uint64_t>(frames.size());
  for (const auto& f : frames) f->serialize(out);
  w.pod<uint8_t>(audio ? 1 : 0);
  if (audio) audio->serialize(out);
  return true;
}

namespace {

std::shared_ptr<AudioData> read_audio(ByteReader& r) {
  const int rate = r.pod<int32_t>(), ch = r.pod<int32_t>();
  const auto n = r.pod<uint64_t>();
  if (n > r.remaining() / sizeof(float)) throw_invalid("audio sample count out of range in cached data");
  std::vector<float> s(n);
  std::memcpy(s.data(), r.take(n * sizeof(float)), n * sizeof(float));
  try {
    return std::make_shared<AudioData>(rate, ch, std::move(s));
  } catch (const Error& e) {
    throw_invalid(std::string("cached audio: ") + e.what());
  }
}

}  // namespace

Value deserialize_audio(std::string_view bytes) {
  ByteReader r(bytes, "audio");
  return read_audio(r);
}

Value deserialize_video(std::string_view bytes) {
  ByteReader r(bytes, "video");
  const int num = r.pod<int32_t>(), den = r.pod<int32_t>();
  const auto n = r.pod<uint64_t>();
  // Each frame takes at least a 13-byte header, so a count the bytes cannot hold is refused before allocating.
  if (n == 0 || n > static_cast<uint64_t>(kMaxVideoFrames) || n > r.remaining() / 13)
    throw_invalid("video frame count out of range in cached data");
  std::vector<ImagePtr> frames;
  frames.reserve(n);
  for (uint64_t i = 0; i < n; ++i) frames.push_back(read_image(r));
  std::shared_ptr<const AudioData> audio;
  if (r.pod<uint8_t>() != 0) audio = read_audio(r);
  try {
    return std::make_shared<VideoData>(std::move(frames), num, den, std::move(audio));
  } catch (const Error& e) {
    throw_invalid(std::string("cached video: ") + e.what());
  }
}

}  // namespace lattice
