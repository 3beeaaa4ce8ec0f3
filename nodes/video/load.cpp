// video.load: a movie (anything FFmpeg reads) or a frame sequence (name.####.png / .exr) as a video.
#include "core/types/basic.h"
#include "nodes/image/image_io.h"
#include "nodes/video/ffmpeg_io.h"
#include "nodes/video/sequence.h"
#include "nodes/video/video_common.h"

namespace lattice {
namespace {

VideoReadOptions selection(const ParamReader& ctx) {
  VideoReadOptions o;
  o.start = ctx.integer("start");
  o.count = ctx.integer("count");
  o.stride = ctx.integer("stride");
  o.audio = ctx.flag("audio");
  return o;
}

NodeDesc make() {
  NodeDesc d;
  d.type = "video.load";
  d.category = "Video";
  d.description = "Read a movie (MP4, MOV, MKV, WebM, ...) or a frame sequence 'name.####.png' as a video";
  d.outputs = {{"video", PortType::Video, "frames as RGB floats in [0,1] as stored (sRGB), with the audio track"}};
  d.params = {{"path", ParamType::InPath, "", "movie file, or a sequence pattern whose '#' run is the frame number"},
              {"start", ParamType::Int, 0,
               "first frame to read, counted from 0 (sequences: from the lowest number found)", 0, kMaxVideoFrames},
              {"count", ParamType::Int, 0, "frames to read; 0 = all to the end", 0, kMaxVideoFrames},
              {"stride", ParamType::Int, 1, "read every n-th frame; the frame rate is divided by it", 1, 1000},
              {"fps", ParamType::Float, 24.0, "frame rate of a frame sequence (movies keep their own)", 0.001, 1000},
              {"audio", ParamType::Bool, true, "decode the movie's first audio track, trimmed to the frames read"}};
  d.path_sequences = true;
  d.disk_cacheable = false;  // decoding costs less than reading back a disk entry of float frames
  d.evaluate = [](EvalContext& ctx) {
    const auto path = ctx.in_path_pattern("path");
    if (path.empty()) ctx.fail("parameter 'path' is empty");
    const auto cancel = [&ctx] { ctx.check_cancel(); };
    std::shared_ptr<VideoData> v;
    if (is_sequence_pattern(path)) {
      const auto [num, den] = fps_to_rational(ctx.number("fps"));
      v = read_sequence(path, selection(ctx), num, den, cancel);
    } else {
      v = read_video(path, selection(ctx), cancel);
    }
    ctx.report("frames", v->frame_count());
    ctx.set_output("video", v);
  };
  d.plan = [](PlanContext& ctx) {
    const auto path = ctx.in_path_pattern("path");
    if (path.empty()) throw_invalid(ctx.who() + ": parameter 'path' is empty", {ctx.node_id()});
    const int64_t count = ctx.integer("count"), stride = std::max<int64_t>(ctx.integer("stride"), 1);
    const auto picked = [&](int64_t available) {
      if (available < 0) return count > 0 ? count : int64_t{-1};
      const int64_t left = std::max<int64_t>(available - ctx.integer("start"), 0);
      const int64_t n = (left + stride - 1) / stride;
      return count > 0 ? std::min(n, count) : n;
    };
    if (is_sequence_pattern(path)) {
      const auto files = list_frame_sequence(path);
      if (files.empty()) throw_invalid(path.string() + ": no frames of this sequence exist", {ctx.node_id()});
      const ImageHeader h = read_image_header(files.front().second);
      ctx.set_output("video", video_plan(h.width, h.height, h.channels, picked(static_cast<int64_t>(files.size()))));
    } else {
      const VideoProbe p = probe_video(path);
      ctx.set_output("video", video_plan(p.width, p.height, 3, picked(p.frames)));
    }
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
