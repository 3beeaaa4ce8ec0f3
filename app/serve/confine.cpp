#include "app/serve/confine.h"

#include <algorithm>

#include "core/error.h"

namespace lattice::serve {

namespace fs = std::filesystem;

namespace {

/// Relative, no '..' component, no NUL: the lexical half of the rule.
bool plain_relative(const std::string& s) {
  if (s.find('\0') != std::string::npos) return false;
  const fs::path p(s);
  if (p.is_absolute() || p.has_root_name() || p.has_root_directory()) return false;
  for (const auto& part : p)
    if (part == "..") return false;
  return true;
}

}  // namespace

bool is_within(const fs::path& root, const fs::path& inner) {
  auto r = root.begin(), i = inner.begin();
  for (; r != root.end(); ++r, ++i) {
    if (i == inner.end()) return false;
    // A trailing separator shows up as an empty last element.
    if (r->empty() && std::next(r) == root.end()) break;
    if (*r != *i) return false;
  }
  return true;
}

void confine_graph(const Graph& g, const fs::path& input_root, bool check_inputs) {
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(input_root, ec);
  for (const Node& n : g.nodes) {
    const NodeDesc* d = NodeRegistry::instance().find(n.type);
    if (!d) continue;  // require_valid reports it
    // Nodes that read files may take text parameters naming a part of what they read (a loader's
    // "component" subfolder): in those nodes text must not look like an escaping path either.
    const bool reads_files =
        std::any_of(d->params.begin(), d->params.end(), [](const ParamDesc& p) { return p.type == ParamType::InPath; });
    for (const ParamDesc& p : d->params) {
      if (check_inputs && reads_files && p.type == ParamType::String) {
        const Json& v = n.params.contains(p.name) ? n.params[p.name] : p.default_value;
        if (v.is_string() && !v.get<std::string>().empty() && !plain_relative(v.get<std::string>()))
          throw Error(ErrorKind::Usage, "node '" + n.id + "' (" + n.type + "): parameter '" + p.name + "' = '" +
                                            v.get<std::string>() + "': this node reads files, and its text "
                                            "parameters may not be absolute paths or contain '..'", {n.id});
      }
      if (p.type != ParamType::OutPath && (p.type != ParamType::InPath || !check_inputs)) continue;
      const Json& v = n.params.contains(p.name) ? n.params[p.name] : p.default_value;
      if (!v.is_string()) continue;  // require_valid reports it
      const std::string s = v.get<std::string>();
      const std::string who = "node '" + n.id + "' (" + n.type + "): parameter '" + p.name + "' = '" + s + "'";
      if (p.type == ParamType::OutPath) {
        if (!plain_relative(s))
          throw Error(ErrorKind::Usage, who + ": output paths must be relative to the job's folder, without '..'",
                      {n.id});
        continue;
      }
      if (s.empty()) continue;
      const fs::path resolved = fs::weakly_canonical(root / s, ec);
      if (!plain_relative(s) || ec || !is_within(root, resolved))
        throw Error(ErrorKind::Usage, who + ": input paths must be relative to the server's input folder and stay "
                                            "inside it", {n.id});
    }
  }
}

std::optional<fs::path> confined_file(const fs::path& root, const std::string& name) {
  if (name.empty() || !plain_relative(name)) return std::nullopt;
  std::error_code ec;
  const fs::path r = fs::canonical(root, ec);
  if (ec) return std::nullopt;
  const fs::path f = fs::canonical(r / name, ec);
  if (ec || !is_within(r, f) || !fs::is_regular_file(f, ec)) return std::nullopt;
  return f;
}

}  // namespace lattice::serve
