// video.save: writes a video as an H.264 movie (.mp4/.mov/.mkv, with AAC audio) or as a frame sequence
// ('name.####.exr' / '.png', through OpenImageIO). Its input also takes a VideoStream (a decoder feeding it
// directly): frames are then encoded chunk by chunk while the decoder produces the next chunk.
#include "core/types/basic.h"
#include "core/types/video_stream.h"
#include "nodes/video/ffmpeg_io.h"
#include "nodes/video/sequence.h"
#include "nodes/video/video_common.h"

namespace lattice {
namespace {

// What is written, whether it comes whole or streamed: the size and rate, and a function feeding every
// frame, in order and in chunks, to `sink`.
struct Frames {
  int width = 0, height = 0, fps_num = 1, fps_den = 1;
  int64_t count = 0;
  std::shared_ptr<const AudioData> audio;
  std::function<void(const std::function<void(const VideoStream::Chunk&)>& sink)> feed;
};

void write_movie(EvalContext& ctx, const std::filesystem::path& path, const Frames& v) {
  VideoEncodeOptions o;
  o.fps_num = v.fps_num;
  o.fps_den = v.fps_den;
  if (ctx.number("fps") > 0) std::tie(o.fps_num, o.fps_den) = fps_to_rational(ctx.number("fps"));
  o.crf = static_cast<int>(ctx.integer("crf"));
  o.preset = ctx.string("preset");
  std::shared_ptr<const AudioData> audio = v.audio;
  if (ctx.has_input("audio")) audio = std::dynamic_pointer_cast<const AudioData>(ctx.input("audio"));
  VideoWriter w(path, v.width, v.height, o, audio);
  v.feed([&](const VideoStream::Chunk& frames) {
    for (const ImagePtr& f : frames) {
      ctx.check_cancel();
      w.push(*f);
      ctx.progress(static_cast<double>(w.frames_pushed()) / static_cast<double>(v.count), "encoding");
    }
  });
  w.finish();
  ctx.report("codec", w.codec_name());
  if (w.padded()) ctx.report("padded_to_even_size", true);
  ctx.wrote_file(path);
}

void write_frames(EvalContext& ctx, const std::filesystem::path& path, const Frames& v) {
  std::string graph;
  if (ctx.flag("embed_graph") && ctx.document()) graph = ctx.document()->dump();
  int64_t written = 0;
  v.feed([&](const VideoStream::Chunk& frames) {
    if (frames.empty()) return;
    const VideoData chunk(frames, v.fps_num, v.fps_den);
    const auto files = write_sequence(path, chunk, ctx.integer("first_number") + written, ctx.string("depth"),
                                      graph.empty() ? nullptr : &graph, [&](int64_t i) {
                                        ctx.check_cancel();
                                        ctx.progress(static_cast<double>(written + i + 1) / static_cast<double>(v.count));
                                      });
    for (const auto& f : files) ctx.wrote_file(f);
    written += chunk.frame_count();
  });
}

// The path's format, checked with the parameters (before anything runs, in the dry run too): a movie
// extension or a sequence pattern.
std::optional<std::string> check_format(const Json& v) {
  const std::filesystem::path path = v.get<std::string>();
  if (path.empty()) return "is empty";
  if (is_sequence_pattern(path) || is_movie_path(path)) return std::nullopt;
  return "cannot tell the format of '" + path.filename().string() +
         "': use .mp4, .mov or .mkv for a movie, or a pattern with '#' (name.####.png) for a frame sequence";
}

NodeDesc make() {
  NodeDesc d;
  d.type = "video.save";
  d.category = "Video";
  d.description = "Write a video: H.264 movie (.mp4, .mov, .mkv) or a frame sequence 'name.####.exr' / '.png'";
  d.inputs = {{"video", PortType::Video, "the frames (and audio track) to write", false, true},
              {"audio", PortType::Audio, "audio track to use instead of the video's own", true}};
  d.outputs = {{"path", PortType::String, "absolute path of the movie, or the sequence pattern"}};
  d.params = {{"path", ParamType::OutPath, "output.mp4",
               "movie file, or a sequence pattern with '####'; relative paths go to the output folder", -INFINITY,
               INFINITY, {}, check_format},
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
    const auto path = std::filesystem::absolute(ctx.out_path_pattern("path"));  // its format checked (check_format)
    const bool sequence = is_sequence_pattern(path);
    Frames frames;
    if (const auto* stream = dynamic_cast<const VideoStream*>(ctx.input("video").get())) {
      const VideoStream::Info& i = stream->info();
      frames = {i.width, i.height, i.fps_num, i.fps_den, i.frames, i.audio, {}};
      frames.feed = [&ctx, stream](const std::function<void(const VideoStream::Chunk&)>& sink) {
        const int64_t held = stream->run(sink, [&](int, int) { ctx.check_cancel(); });
        ctx.report("streamed", true);
        ctx.report("peak_frames_held", held);
      };
    } else {
      const VideoData& v = ctx.input_as<VideoData>("video");
      frames = {v.width(), v.height(), v.fps_num, v.fps_den, v.frame_count(), v.audio,
                [&v](const std::function<void(const VideoStream::Chunk&)>& sink) { sink(v.frames); }};
    }
    if (sequence) {
      write_frames(ctx, path, frames);
    } else {
      write_movie(ctx, path, frames);
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
