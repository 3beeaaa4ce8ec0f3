#include "nodes/video/sequence.h"

#include <algorithm>

#include "core/error.h"
#include "core/eval_context.h"
#include "nodes/image/image_io.h"

namespace lattice {

bool is_sequence_pattern(const std::filesystem::path& pattern) {
  return pattern.filename().string().find('#') != std::string::npos;
}

std::vector<std::pair<int64_t, std::filesystem::path>> list_sequence(const std::filesystem::path& pattern) {
  const std::string name = pattern.filename().string();
  const size_t a = name.find('#');
  if (a == std::string::npos) throw_invalid(pattern.string() + ": not a frame sequence pattern (no '#')");
  size_t b = a;
  while (b < name.size() && name[b] == '#') ++b;
  if (name.find('#', b) != std::string::npos)
    throw_invalid(pattern.string() + ": a frame sequence pattern has one run of '#', this one has several");
  const std::string prefix = name.substr(0, a), suffix = name.substr(b);
  const std::filesystem::path dir = pattern.parent_path().empty() ? "." : pattern.parent_path();

  std::vector<std::pair<int64_t, std::filesystem::path>> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec), end;
  if (ec) throw_invalid(pattern.string() + ": cannot list the folder: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw_invalid(pattern.string() + ": cannot list the folder: " + ec.message());
    const std::string f = it->path().filename().string();
    if (f.size() <= prefix.size() + suffix.size() || f.compare(0, prefix.size(), prefix) != 0 ||
        f.compare(f.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string digits = f.substr(prefix.size(), f.size() - prefix.size() - suffix.size());
    if (digits.size() > 12 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    const int64_t n = std::stoll(digits);
    if (substitute_frame(name, n) != f) continue;  // other padding: another sequence
    out.emplace_back(n, it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::shared_ptr<VideoData> read_sequence(const std::filesystem::path& pattern, const VideoReadOptions& o,
                                         int fps_num, int fps_den, const std::function<void()>& cancel) {
  if (o.start < 0 || o.count < 0 || o.stride < 1 || o.count > kMaxVideoFrames)
    throw_invalid(pattern.string() + ": frame selection start " + std::to_string(o.start) + ", count " +
                  std::to_string(o.count) + ", stride " + std::to_string(o.stride) + " is invalid");
  if (fps_num <= 0 || fps_den <= 0) throw_invalid(pattern.string() + ": frame rate is not positive");
  const auto files = list_sequence(pattern);
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
