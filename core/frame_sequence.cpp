#include "core/frame_sequence.h"

#include <algorithm>

#include "core/error.h"
#include "core/eval_context.h"

namespace lattice {

bool is_sequence_pattern(const std::filesystem::path& pattern) {
  return pattern.filename().string().find('#') != std::string::npos;
}

std::vector<std::pair<int64_t, std::filesystem::path>> list_frame_sequence(const std::filesystem::path& pattern) {
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

}  // namespace lattice
