#include "core/types/video_stream.h"

#include <algorithm>
#include <cstdio>
#include <exception>

#include "core/error.h"

namespace lattice {

VideoStream::VideoStream(Info info, std::string producer_who, std::string producer_id, Producer produce)
    : info_(std::move(info)), who_(std::move(producer_who)), id_(std::move(producer_id)), produce_(std::move(produce)) {
  if (info_.frames <= 0 || info_.frames > kMaxVideoFrames || info_.width <= 0 || info_.height <= 0 || info_.channels <= 0 ||
      info_.fps_num <= 0 || info_.fps_den <= 0)
    throw_eval(who_ + ": video stream of " + std::to_string(info_.frames) + " frames " + std::to_string(info_.width) + "x" +
                   std::to_string(info_.height) + " is not a valid video",
               {id_});
}

std::string VideoStream::describe() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "video stream %dx%dx%d %lld frames @ %g fps%s", info_.width, info_.height, info_.channels,
                static_cast<long long>(info_.frames), static_cast<double>(info_.fps_num) / info_.fps_den,
                info_.audio ? " + audio" : "");
  return buf;
}

int64_t VideoStream::run(const Sink& sink, const Progress& progress) const {
  int64_t delivered = 0, largest = 0;
  std::exception_ptr from_sink;  // the consumer's own failure (writing, cancelling) passes through unchanged
  auto checked = [&](const Chunk& frames) {
    for (const ImagePtr& f : frames)
      if (!f || f->width != info_.width || f->height != info_.height || f->channels != info_.channels)
        throw_eval(who_ + ": streamed frame " + std::to_string(delivered) + " does not have the announced size " +
                       std::to_string(info_.width) + "x" + std::to_string(info_.height) + "x" + std::to_string(info_.channels),
                   {id_});
    delivered += static_cast<int64_t>(frames.size());
    if (delivered > info_.frames)
      throw_eval(who_ + ": streamed more than the announced " + std::to_string(info_.frames) + " frames", {id_});
    largest = std::max<int64_t>(largest, static_cast<int64_t>(frames.size()));
    try {
      sink(frames);
    } catch (...) {
      from_sink = std::current_exception();
      throw;
    }
  };
  try {
    produce_(checked, progress ? progress : Progress([](int, int) {}));
  } catch (const Error& e) {
    if (from_sink) std::rethrow_exception(from_sink);
    const std::string msg = e.what();
    if (e.kind() == ErrorKind::Cancelled || msg.rfind(who_, 0) == 0) throw;
    std::vector<std::string> ids = e.node_ids();
    ids.push_back(id_);
    throw Error(e.kind() == ErrorKind::InvalidInput ? ErrorKind::InvalidInput : ErrorKind::Evaluation, who_ + ": " + msg, ids);
  } catch (const std::exception& e) {
    if (from_sink) std::rethrow_exception(from_sink);
    throw Error(ErrorKind::Evaluation, who_ + ": " + e.what(), {id_});
  }
  if (delivered != info_.frames)
    throw_eval(who_ + ": streamed " + std::to_string(delivered) + " of the announced " + std::to_string(info_.frames) + " frames", {id_});
  return largest;
}

void set_video_output(EvalContext& ctx, const std::string& output, VideoStream::Info info, VideoStream::Producer produce) {
  if (ctx.may_stream(output)) {
    ctx.set_output(output, std::make_shared<VideoStream>(std::move(info), ctx.who(), ctx.node_id(), std::move(produce)));
    return;
  }
  std::vector<ImagePtr> frames;
  frames.reserve(static_cast<size_t>(std::max<int64_t>(info.frames, 0)));
  produce([&](const VideoStream::Chunk& chunk) { frames.insert(frames.end(), chunk.begin(), chunk.end()); },
          [&](int done, int total) {
            ctx.step(done, total);
            ctx.check_cancel();
          });
  if (static_cast<int64_t>(frames.size()) != info.frames)
    ctx.fail("decoded " + std::to_string(frames.size()) + " of the expected " + std::to_string(info.frames) + " frames");
  ctx.set_output(output, std::make_shared<VideoData>(std::move(frames), info.fps_num, info.fps_den, info.audio));
}

}  // namespace lattice
