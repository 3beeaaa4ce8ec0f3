#include "nodes/video/sequence.h"

#include "core/error.h"
#include "core/eval_context.h"
#include "core/frame_sequence.h"
#include "nodes/image/image_io.h"

namespace lattice {

std::shared_ptr<VideoData> read_sequence(const std::filesystem::path& pattern, const VideoReadOptions& o,
                                         int fps_num, int fps_den, const std::function<void()>& cancel) {
  if (o.start < 0 || o.count < 0 || o.stride < 1 || o.count > kMaxVideoFrames)
    throw_invalid(pattern.string() + ": frame selection start " + std::to_string(o.start) + ", count " +
                  std::to_string(o.count) + ", stride " + std::to_string(o.stride) + " is invalid");
  if (fps_num <= 0 || fps_den <= 0) throw_invalid(pattern.string() + ": frame rate is not positive");
  const auto files = list_frame_sequence(pattern);
  if (files.empty()) throw_invalid(pattern.string() + ": no frames of this sequence exist");
  const int64_t have = static_cast<int64_t>(files.size());
  if (o.start >= have)
    throw_invalid(pattern.string() + ": the sequence has " + std::to_string(have) + " frames, none at position " +
                  std::to_string(o.start));
  const int64_t want = o.count > 0 ? o.count : kMaxVideoFrames;
  std::vector<ImagePtr> frames;
  for (int64_t i = o.start; i < have && static_cast<int64_t>(frames.size()) < want; i += o.stride) {
    const auto& path = files[static_cast<size_t>(i)].second;
    auto img = read_image(path);
    if (!frames.empty() && (img->width != frames[0]->width || img->height != frames[0]->height ||
                            img->channels != frames[0]->channels))
      throw_invalid(path.string() + ": frame is " + std::to_string(img->width) + "x" + std::to_string(img->height) +
                    "x" + std::to_string(img->channels) + ", the sequence's first is " +
                    std::to_string(frames[0]->width) + "x" + std::to_string(frames[0]->height) + "x" +
                    std::to_string(frames[0]->channels));
    frames.push_back(std::move(img));
    if (cancel) cancel();
  }
  const int64_t den = static_cast<int64_t>(fps_den) * o.stride;
  if (den > INT32_MAX) throw_invalid(pattern.string() + ": stride " + std::to_string(o.stride) + " is too large");
  return std::make_shared<VideoData>(std::move(frames), fps_num, static_cast<int>(den));
}

std::vector<std::filesystem::path> write_sequence(const std::filesystem::path& pattern, const VideoData& video,
                                                  int64_t first_number, const std::string& depth,
                                                  const std::string* embedded_graph,
                                                  const std::function<void(int64_t)>& each) {
  const std::string name = pattern.filename().string();
  if (name.find('#') == std::string::npos) throw_eval(pattern.string() + ": not a frame sequence pattern (no '#')");
  if (first_number < 0) throw_eval(pattern.string() + ": first frame number " + std::to_string(first_number) + " is negative");
  std::vector<std::filesystem::path> written;
  for (int64_t i = 0; i < video.frame_count(); ++i) {
    const std::filesystem::path p = pattern.parent_path() / substitute_frame(name, first_number + i);
    write_image(p, *video.frames[static_cast<size_t>(i)], depth, embedded_graph);
    written.push_back(p);
    if (each) each(i);
  }
  return written;
}

}  // namespace lattice
