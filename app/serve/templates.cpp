#include "app/serve/templates.h"

#include <algorithm>

#include "app/param_override.h"
#include "core/document.h"

namespace lattice::serve {

namespace fs = std::filesystem;

const std::vector<std::string> kTemplateFields = {"prompt", "negative_prompt", "width", "height",
                                                  "num_frames", "fps", "steps", "seed"};

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

bool mappable(ParamType t) {
  return t == ParamType::String || t == ParamType::Int || t == ParamType::Float || t == ParamType::Seed ||
         t == ParamType::Bool || t == ParamType::Choice;
}

}  // namespace

GraphTemplate parse_template(const fs::path& file, Graph g) {
  const std::string where = file.string() + ": \"template\"";
  const Json spec = g.extra.at("template");
  if (!spec.is_object()) throw_invalid(where + " must be an object");
  GraphTemplate t;
  t.name = file.stem().string();
  t.file = file;
  if (spec.contains("description")) {
    if (!spec["description"].is_string()) throw_invalid(where + ".description must be a string");
    t.description = spec["description"].get<std::string>();
  }
  if (!spec.contains("fields") || !spec["fields"].is_object() || spec["fields"].empty())
    throw_invalid(where + ".fields must be an object mapping request fields to NODE_ID.PARAM targets");
  for (const auto& [field, targets] : spec["fields"].items()) {
    if (std::find(kTemplateFields.begin(), kTemplateFields.end(), field) == kTemplateFields.end())
      throw_invalid(where + ": unknown field '" + field + "' (fields are: " + join(kTemplateFields) + ")");
    std::vector<std::string> list;
    if (targets.is_string()) {
      list.push_back(targets.get<std::string>());
    } else if (targets.is_array() && !targets.empty()) {
      for (const auto& x : targets) {
        if (!x.is_string()) throw_invalid(where + ": field '" + field + "' lists a target that is not a string");
        list.push_back(x.get<std::string>());
      }
    } else {
      throw_invalid(where + ": field '" + field + "' must name NODE_ID.PARAM or a list of them");
    }
    for (const auto& target : list) {
      app::ParamTarget p;
      try {
        p = app::find_param(g, target, "field '" + field + "'");
      } catch (const Error& e) {
        throw_invalid(where + ": " + e.what());
      }
      if (!mappable(p.param->type))
        throw_invalid(where + ": field '" + field + "' targets " + target + ", a " +
                      std::string(param_type_name(p.param->type)) + " parameter; only text, number, seed, flag " +
                      "and choice parameters can be set by requests");
    }
    t.fields[field] = std::move(list);
  }
  require_valid(g);
  t.graph = std::move(g);
  return t;
}

Json GraphTemplate::describe() const {
  Json f = Json::object();
  for (const auto& [field, targets] : fields) {
    Json tj = Json::array();
    for (const auto& x : targets) tj.push_back(x);
    // The value the template uses when the request leaves the field out: its first target's.
    const auto dot = targets[0].find('.');
    const Node* n = graph.find(targets[0].substr(0, dot));
    const NodeDesc* d = NodeRegistry::instance().find(n->type);
    Json value = resolved_params(*n, *d)[targets[0].substr(dot + 1)];
    f[field] = {{"targets", std::move(tj)}, {"default", std::move(value)}};
  }
  return {{"name", name}, {"description", description}, {"fields", std::move(f)}};
}

Graph GraphTemplate::instantiate(const Json& values) const {
  if (!values.is_object()) throw Error(ErrorKind::Usage, "the request must be a JSON object of template fields");
  Graph g = graph;
  for (const auto& [field, value] : values.items()) {
    if (std::find(kTemplateFields.begin(), kTemplateFields.end(), field) == kTemplateFields.end())
      throw Error(ErrorKind::Usage, "unknown field '" + field + "' (fields are: " + join(kTemplateFields) + ")");
    auto it = fields.find(field);
    if (it == fields.end()) {
      std::vector<std::string> names;
      for (const auto& [n, t] : fields) names.push_back(n);
      throw Error(ErrorKind::Usage, "template '" + name + "' does not take '" + field + "' (it takes: " +
                                        join(names) + ")");
    }
    for (const auto& target : it->second) app::set_param_json(g, target, value, "field '" + field + "'");
  }
  require_valid(g);
  return g;
}

void TemplateLibrary::load(const fs::path& dir, std::vector<std::string>* problems) {
  dir_ = dir;
  templates_.clear();
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".lattice" && it->is_regular_file()) files.push_back(it->path());
  if (ec) {
    if (problems) problems->push_back("cannot read the templates folder " + dir.string() + ": " + ec.message());
    return;
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    try {
      Graph g = load_graph_file(f);
      if (!g.extra.contains("template")) continue;
      GraphTemplate t = parse_template(f, std::move(g));
      templates_[t.name] = std::move(t);
    } catch (const Error& e) {
      if (problems) problems->push_back(e.what());
    }
  }
}

const GraphTemplate* TemplateLibrary::find(const std::string& name) const {
  auto it = templates_.find(name);
  return it == templates_.end() ? nullptr : &it->second;
}

Json TemplateLibrary::describe() const {
  Json a = Json::array();
  for (const auto& [n, t] : templates_) a.push_back(t.describe());
  return a;
}

}  // namespace lattice::serve
