// video.frame: one frame of a video as an image, so that image nodes can work on video frames.
#include "nodes/image/image_common.h"
#include "nodes/video/video_common.h"

namespace lattice {
namespace {

// The frame to take from a video of `count` frames; a clear InvalidInput error past its ends (the run and, where
// the upstream plan knows the count, the dry run).
int64_t frame_index(const ParamReader& ctx, int64_t count) {
  int64_t i = ctx.integer("index");
  if (ctx.flag("follow_render_frame")) i += ctx.frame();
  if (i < 0 || i >= count)
    throw_invalid(ctx.who() + ": frame " + std::to_string(i) + " is outside the video's " + std::to_string(count) +
                      " frames (0.." + std::to_string(count - 1) + ")",
                  {ctx.node_id()});
  return i;
}

NodeDesc make() {
  NodeDesc d;
  d.type = "video.frame";
  d.category = "Video";
  d.description = "One frame of a video as an image; with 'follow_render_frame' the frame --frames is rendering";
  d.inputs = {{"video", PortType::Video, "the video"}};
  d.outputs = {{"image", PortType::Image, "the frame (shared with the video, not copied)"}};
  d.params = {{"index", ParamType::Int, 0,
               "frame index from 0; with follow_render_frame an offset added to the render frame"},
              {"follow_render_frame", ParamType::Bool, false,
               "pick frame (render frame + index), e.g. index -1 with --frames 1-24"}};
  d.frame_dependent = true;
  d.disk_cacheable = false;  // a pointer into the video: caching it on disk would copy every frame
  d.evaluate = [](EvalContext& ctx) {
    const VideoData& v = ctx.input_as<VideoData>("video");
    ctx.set_output("image", v.frames[static_cast<size_t>(frame_index(ctx, v.frame_count()))]);
  };
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* in = ctx.input("video");
    if (!in || !in->meta.contains("w")) return;
    if (const int64_t frames = in->meta.value("frames", int64_t{-1}); frames >= 0) frame_index(ctx, frames);
    ctx.set_output("image", image_plan(in->meta["w"].get<int64_t>(), in->meta["h"].get<int64_t>(), in->meta["c"].get<int64_t>()));
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
