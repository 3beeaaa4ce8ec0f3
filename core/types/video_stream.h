#pragma once
/// A video produced while it is consumed. A decoder node whose video feeds only video.save hands over its
/// frames chunk by chunk as they are decoded, so the writer encodes chunk k while chunk k+1 decodes and the
/// host holds one chunk of frames instead of the whole video.
///
/// How it travels (the engine's rules, engine.h): a node may set a VideoStream on an output only when
/// EvalContext::may_stream(output) is true, i.e. the output feeds exactly one input, that input declares
/// PortDesc::accepts_stream, and the node is not itself what the caller asked for. Nothing is decoded when
/// the producer's evaluate returns: the work runs inside the consumer's evaluate, when it calls run(). A
/// VideoStream is transient (Data::transient): the engine puts it in neither cache, so a cache never holds a
/// promise in place of frames; a later evaluation that needs the video runs the producer again. The consumer's
/// own result (the file it wrote) is keyed on the producer's key as for any input, and is cached as usual.
///
/// run() is called once, on the evaluating thread. The producer calls the sink with frames in order; run()
/// checks their count and size against the announced Info. Errors from the producer come out as
/// Error(Evaluation) (InvalidInput and Cancelled keep their kind) naming the producing node.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/eval_context.h"
#include "core/types/video.h"

namespace lattice {

class VideoStream final : public Data {
 public:
  struct Info {
    int width = 0, height = 0, channels = 3;
    int64_t frames = 0;
    int fps_num = 24, fps_den = 1;
    std::shared_ptr<const AudioData> audio;
  };
  using Chunk = std::vector<ImagePtr>;
  using Sink = std::function<void(const Chunk& frames)>;
  using Progress = std::function<void(int done, int total)>;
  using Producer = std::function<void(const Sink& sink, const Progress& progress)>;

  /// `producer_who`: the producing node as messages name it ("node 'decode' (wan.vae_decode)"), `producer_id`
  /// its id. Throws Error(Evaluation) for an Info with no frames, a non-positive size or rate.
  VideoStream(Info info, std::string producer_who, std::string producer_id, Producer produce);
  PortType type() const override { return PortType::Video; }
  size_t bytes() const override { return sizeof(*this); }
  std::string describe() const override;
  bool transient() const override { return true; }

  const Info& info() const { return info_; }
  /// Runs the producer, handing each chunk to `sink`; `progress` (optional) counts the producer's steps.
  /// Returns the largest chunk, in frames: the most decoded frames the host held at once on this path.
  int64_t run(const Sink& sink, const Progress& progress = {}) const;

 private:
  Info info_;
  std::string who_, id_;
  Producer produce_;
};

/// How a video-producing node sets its output: a VideoStream running `produce` later when
/// ctx.may_stream(output), otherwise `produce` runs now (its progress as ctx.step, with cancellation checks)
/// and the output is the whole VideoData. Either way the frames are the same. `produce` must hold (by value)
/// everything it needs beyond the evaluation: input Values, parameters.
void set_video_output(EvalContext& ctx, const std::string& output, VideoStream::Info info, VideoStream::Producer produce);

}  // namespace lattice
