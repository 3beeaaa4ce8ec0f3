// video.save: writes a video as an H.264 movie (.mp4/.mov/.mkv, with AAC audio) or as a frame sequence
// ('name.####.exr' / '.png', through OpenImageIO).
#include "core/types/basic.h"
#include "nodes/video/ffmpeg_io.h"
#include "nodes/video/sequence.h"
#include "nodes/video/video_common.h"

namespace lattice {
namespace {

void write_movie(EvalContext& ctx, const std::filesystem::path& path, const VideoData& v) {
  VideoEncodeOptions o;
  o.fps_num = v.fps_num;
  o.fps_den = v.fps_den;
  if (ctx.number("fps") > 0) std::tie(o.fps_num, o.fps_den) = fps_to_rational(ctx.number("fps"));
  o.crf = static_cast<int>(ctx.integer("crf"));
  o.preset = ctx.string("preset");
  std::shared_ptr<const AudioData> audio = v.audio;
  if (ctx.has_input("audio")) audio = std::dynamic_pointer_cast<const AudioData>(ctx.input("audio"));
  VideoWriter w(path, v.width(), v.height(), o, audio);
  for (int64_t i = 0; i < v.frame_count(); ++i) {
    ctx.check_cancel();
    w.push(*v.frames[static_cast<size_t>(i)]);
    ctx.progress(static_cast<double>(i + 1) / static_cast<double>(v.frame_count()), "encoding");
  }
  w.finish();
  ctx.report("codec", w.codec_name());
  if (w.padded()) ctx.report("padded_to_even_size", true);
  ctx.wrote_file(path);
}

NodeDesc make() {
  NodeDesc d;
  d.type = "video.save";
  d.category = "Video";
  d.description = "Write a video: H.264 movie (.mp4, .mov, .mkv) or a frame sequence 'name.####.exr' / '.png'";
  d.inputs = {{"video", PortType::Video, "the frames (and audio track) to write"},
              {"audio", PortType::Audio, "audio track to use instead of the video's own", true}};
  d.outputs = {{"path", PortType::String, "absolute path of the movie, or the sequence pattern"}};
  d.params = {{"path", ParamType::OutPath, "output.mp4",
               "movie file, or a sequence pattern with '####'; relative paths go to the output folder"},
              {"fps", ParamType::Float, 0.0, "frame rate of the movie; 0 = the video's own", 0, 1000},
              {"crf", ParamType::Int, 18, "H.264 quality: 0 = lossless, 18 = visually lossless, 51 = worst", 0, 51},
              {"preset", ParamType::Choice, "medium", "H.264 encoder speed against file size", -INFINITY, INFINITY,
               {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}},
              {"depth", ParamType::Choice, "auto", "sequence bits per channel: auto = 8-bit PNG, half EXR", -INFINITY,
               INFINITY, {"auto", "8", "16", "half", "float"}},
              {"first_number", ParamType::Int, 1, "number of the first file of a sequence", 0, 1e9},
              {"embed_graph", ParamType::Bool, true, "store the project in each sequence image"}};
  d.side_effect = true;
  d.disk_cacheable = false;
  d.path_sequences = true;
  d.evaluate = [](EvalContext& ctx) {
    if (ctx.string("path").empty()) ctx.fail("parameter 'path' is empty");
    const auto path = std::filesystem::absolute(ctx.out_path_pattern("path"));
    const VideoData& v = ctx.input_as<VideoData>("video");
    if (is_sequence_pattern(path)) {
      std::string graph;
      if (ctx.flag("embed_graph") && ctx.document()) graph = ctx.document()->dump();
      const auto files = write_sequence(path, v, ctx.integer("first_number"), ctx.string("depth"),
                                        graph.empty() ? nullptr : &graph, [&](int64_t i) {
                                          ctx.check_cancel();
                                          ctx.progress(static_cast<double>(i + 1) / static_cast<double>(v.frame_count()));
                                        });
      for (const auto& f : files) ctx.wrote_file(f);
    } else if (is_movie_path(path)) {
      write_movie(ctx, path, v);
    } else {
      ctx.fail("cannot tell the format of '" + path.filename().string() +
               "': use .mp4, .mov or .mkv for a movie, or a pattern with '#' (name.####.png) for a frame sequence");
    }
    ctx.set_output("path", make_string(path.string()));
  };
  d.plan = [](PlanContext& ctx) {
    PlanInfo p;
    p.shape = "file " + ctx.out_path_pattern("path").string();
    ctx.set_output("path", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
