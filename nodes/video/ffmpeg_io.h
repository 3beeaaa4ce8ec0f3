#pragma once
/// Movie files through FFmpeg's libraries (Debian 12: FFmpeg 5.1).
///
/// VideoWriter encodes frames to H.264 (libx264; FFmpeg's built-in mpeg4 encoder if libx264 is missing,
/// which codec_name() reports) in yuv420p, BT.709 matrix, limited range, tagged BT.709, with an optional
/// AAC track (FFmpeg's native "aac" encoder). Pixels are taken as stored (sRGB-encoded floats, [0, 1],
/// clipped); no transfer curve is applied. yuv420p needs even sizes: an odd width or height is padded by
/// repeating the last column or row, so the file is up to one pixel wider and taller (padded() says so).
/// The file appears complete or not at all (temporary file beside it, renamed by finish()).
///
/// Threads: push() and finish() are called from one thread (the producer). push() converts the frame to
/// yuv420p on the caller's thread and queues it (at most `queue_frames` frames, then push blocks); a worker
/// thread sends queued frames to the encoder and writes packets, so converting frame i+1 overlaps encoding
/// frame i, and a producer that makes frames in chunks (a VAE decoding chunk by chunk) overlaps its own work
/// with encoding. An error on the worker comes out of the next push() or finish().
///
/// read_video decodes any file FFmpeg can demux into RGB float frames in [0, 1] (the file's own matrix and
/// range, BT.601 assumed for untagged SD and BT.709 for untagged HD; no transfer curve applied), at the
/// file's size, with its audio (first audio stream) as interleaved float samples at the file's rate.
/// read_audio decodes the first audio stream of any file FFmpeg demuxes (WAV, MP3, FLAC, M4A, Ogg, or a
/// movie's track) the same way, without a video stream being needed.
///
/// Errors: a file that cannot be opened or decoded is Error(InvalidInput); a failure while writing is
/// Error(Evaluation). Messages name the file and carry FFmpeg's own error text.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "core/types/video.h"

namespace lattice {

struct VideoEncodeOptions {
  int fps_num = 24, fps_den = 1;
  int crf = 18;                      ///< libx264 constant rate factor, 0 (lossless) .. 51; mapped for mpeg4
  std::string preset = "medium";     ///< libx264 speed preset (ultrafast .. veryslow)
  std::string codec;                 ///< empty: libx264, or mpeg4 where libx264 is missing; or either by name
  int audio_bitrate = 192000;        ///< AAC bits per second
  int queue_frames = 8;              ///< converted frames waiting for the encoder before push() blocks
};

class VideoWriter {
 public:
  /// Opens the encoder(s) and the output; `audio` (may be null) is encoded up front and interleaved.
  VideoWriter(const std::filesystem::path& path, int width, int height, const VideoEncodeOptions& options,
              std::shared_ptr<const AudioData> audio = nullptr);
  /// Without finish(): stops the worker and removes the temporary file.
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  /// Queues one frame (1 to 4 channels; 1 = grey, 2 = grey+alpha, alpha ignored) of the size given above.
  void push(const ImageData& frame);
  /// Flushes the encoders, writes the trailer and moves the file into place.
  void finish();

  const std::string& codec_name() const { return codec_name_; }
  bool padded() const;
  int64_t frames_pushed() const { return pushed_; }

 private:
  struct Impl;
  void worker();
  std::unique_ptr<Impl> impl_;
  std::string codec_name_;
  int64_t pushed_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  std::exception_ptr worker_error_;
  bool closing_ = false;
};

/// What read_video returns: the frames picked and where they came from.
struct VideoReadOptions {
  int64_t start = 0;   ///< first frame (0-based, in presentation order)
  int64_t count = 0;   ///< frames to return; 0 = to the end (bounded by kMaxVideoFrames)
  int64_t stride = 1;  ///< take every stride-th frame; the result's rate is divided by stride
  bool audio = true;   ///< decode the first audio stream, trimmed to the frames' time span
};

struct VideoProbe {
  int width = 0, height = 0;
  int fps_num = 0, fps_den = 1;
  int64_t frames = -1;  ///< from the container; -1 when it does not say
  bool has_audio = false;
  std::string codec;
};

/// Opens the file and reads its headers only.
VideoProbe probe_video(const std::filesystem::path& path);

/// Decodes the frames selected by `options`. `cancel` (optional) is polled between frames and may throw.
std::shared_ptr<VideoData> read_video(const std::filesystem::path& path, const VideoReadOptions& options,
                                      const std::function<void()>& cancel = {});

/// The span of a sound read by read_audio, in seconds of the stream.
struct AudioReadOptions {
  double start = 0;     ///< seconds skipped from the start: decoded and dropped as they come, so
                        ///< memory holds only the span; no seeking, so the span is sample-exact in every codec
  double duration = 0;  ///< seconds kept; 0 = to the end
};

struct AudioProbe {
  int sample_rate = 0, channels = 0;
  double seconds = -1;  ///< from the container; -1 when it does not say
  std::string codec;
};

/// Seconds as messages and plans show them ("2.5 s" with the default format).
std::string seconds_text(double seconds, const char* format = "%g s");

/// Opens the file and reads its headers only; Error(InvalidInput) when it has no audio stream.
AudioProbe probe_audio(const std::filesystem::path& path);

/// Decodes the first audio stream over the span `options` picks, as interleaved float samples at the file's
/// rate and channel count. `cancel` (optional) is polled between packets and may throw. Error(InvalidInput)
/// when the file is missing or unreadable, has no audio stream, or ends before `options.start`.
std::shared_ptr<AudioData> read_audio(const std::filesystem::path& path, const AudioReadOptions& options,
                                      const std::function<void()>& cancel = {});

/// A frame rate in frames per second as the nearest small rational (23.976 -> 24000/1001).
/// Throws Error(InvalidInput) when not in (0, 1000].
std::pair<int, int> fps_to_rational(double fps);

/// True for the movie containers video.save writes through FFmpeg (.mp4, .mov, .mkv).
bool is_movie_path(const std::filesystem::path& path);

}  // namespace lattice
