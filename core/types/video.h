#pragma once
/// Video and audio on a wire.
///
/// VideoData is a sequence of frames of one size and channel count (host images, shared so that a node
/// passing frames through copies no pixels), a frame rate as a rational (24000/1001 stays exact), and an
/// optional audio track. Frame i is shown at time i·fps_den/fps_num seconds. The constructor checks the
/// invariants (at least one frame, equal sizes and channel counts, positive rate) and throws
/// Error(Evaluation) naming the first frame at fault, so a VideoData that exists is always consistent.
///
/// AudioData holds interleaved float samples in [-1, 1] (values outside are allowed and clipped by
/// encoders), `channels` per frame of samples, at `sample_rate` Hz.
///
/// Both serialize for the disk cache (registered in core/types/register.cpp).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/types/image.h"
#include "core/value.h"

namespace lattice {

class AudioData final : public Data {
 public:
  AudioData(int sample_rate, int channels, std::vector<float> samples);
  PortType type() const override { return PortType::Audio; }
  size_t bytes() const override { return sizeof(*this) + samples.size() * sizeof(float); }
  std::string describe() const override;
  bool serialize(std::string& out) const override;

  /// Number of sample frames (samples per channel).
  int64_t frames() const { return static_cast<int64_t>(samples.size()) / channels; }
  double seconds() const { return static_cast<double>(frames()) / sample_rate; }

  int sample_rate, channels;
  std::vector<float> samples;
};

using ImagePtr = std::shared_ptr<const ImageData>;

class VideoData final : public Data {
 public:
  VideoData(std::vector<ImagePtr> frames, int fps_num, int fps_den = 1,
            std::shared_ptr<const AudioData> audio = nullptr);
  PortType type() const override { return PortType::Video; }
  size_t bytes() const override;
  std::string describe() const override;
  bool serialize(std::string& out) const override;

  int width() const { return frames.front()->width; }
  int height() const { return frames.front()->height; }
  int channels() const { return frames.front()->channels; }
  int64_t frame_count() const { return static_cast<int64_t>(frames.size()); }
  double fps() const { return static_cast<double>(fps_num) / fps_den; }
  double seconds() const { return static_cast<double>(frames.size()) * fps_den / fps_num; }

  const std::vector<ImagePtr> frames;
  const int fps_num, fps_den;
  const std::shared_ptr<const AudioData> audio;
};

/// Largest accepted frame count and audio sample rate; larger values are refused, not allocated.
constexpr int64_t kMaxVideoFrames = 1 << 20;
constexpr int kMaxSampleRate = 768000;

/// Reads what serialize() wrote (used by the disk cache); throws Error(InvalidInput) on malformed bytes.
Value deserialize_video(std::string_view bytes);
Value deserialize_audio(std::string_view bytes);

}  // namespace lattice
