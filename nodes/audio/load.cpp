// audio.load: the first audio track of a sound file (WAV, MP3, FLAC, M4A, Ogg, ...) or of a movie, for
// video.save's `audio` input. Decoding is FFmpeg's, shared with video.load (nodes/video/ffmpeg_io.h).
#include <algorithm>

#include "core/eval_context.h"
#include "nodes/video/ffmpeg_io.h"

namespace lattice {
namespace {

std::string describe(int rate, int channels, double seconds) {
  return "audio " + std::to_string(rate) + " Hz " + std::to_string(channels) + " ch" +
         (seconds < 0 ? "" : " " + seconds_text(seconds, "%.3f s"));
}

NodeDesc make() {
  NodeDesc d;
  d.type = "audio.load";
  d.category = "Audio";
  d.description = "Read a sound file (WAV, MP3, FLAC, M4A, Ogg, ...) or a movie's audio track";
  d.outputs = {{"audio", PortType::Audio, "interleaved float samples at the file's own rate and channel count"}};
  d.params = {{"path", ParamType::InPath, "", "sound file, or a movie whose first audio track is read"},
              {"start", ParamType::Float, 0.0, "seconds skipped from the start of the track", 0, 1e6},
              {"duration", ParamType::Float, 0.0, "seconds read from `start`; 0 = to the end", 0, 1e6}};
  d.evaluate = [](EvalContext& ctx) {
    const auto path = ctx.in_path("path");
    if (path.empty()) ctx.fail("parameter 'path' is empty");
    AudioReadOptions o;
    o.start = ctx.number("start");
    o.duration = ctx.number("duration");
    auto audio = read_audio(path, o, [&ctx] { ctx.check_cancel(); });
    ctx.report("seconds", audio->seconds());
    ctx.set_output("audio", std::move(audio));
  };
  d.plan = [](PlanContext& ctx) {
    const auto path = ctx.in_path("path");
    if (path.empty()) throw_invalid(ctx.who() + ": parameter 'path' is empty", {ctx.node_id()});
    const AudioProbe a = probe_audio(path);
    const double start = ctx.number("start"), duration = ctx.number("duration");
    if (a.seconds >= 0 && start >= a.seconds)
      throw_invalid(path.string() + ": its audio lasts " + seconds_text(a.seconds) + ", nothing at or after start " +
                        seconds_text(start),
                    {ctx.node_id()});
    double seconds = a.seconds < 0 ? -1 : std::max(a.seconds - start, 0.0);
    if (duration > 0) seconds = seconds < 0 ? duration : std::min(seconds, duration);
    PlanInfo p;
    p.shape = describe(a.sample_rate, a.channels, seconds);
    if (seconds >= 0)
      p.activation_bytes = static_cast<uint64_t>(seconds * a.sample_rate * a.channels * sizeof(float));
    p.meta = {{"rate", a.sample_rate}, {"channels", a.channels}, {"seconds", seconds}};
    ctx.set_output("audio", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
