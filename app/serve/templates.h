#pragma once
/// Graph templates for the service's simple prompt endpoints (docs/service.md, "Templates").
///
/// A template is a .lattice file in the templates folder with a top-level "template" object saying which node
/// parameters the request fields set:
///
///   "template": {"description": "FLUX.1-dev text to image",
///                "fields": {"prompt": "prompt.prompt", "width": ["noise.width"], "seed": "noise.seed"}}
///
/// Its name is the file's stem. Fields are the fixed set kTemplateFields; a field may set several parameters
/// (one "NODE_ID.PARAM" or a list). Loading checks that the graph is valid and that every target exists and
/// is a text, number, seed or flag parameter (never a path), so a request can change only those values.
/// The folder is read once, at start-up.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/graph.h"

namespace lattice::serve {

/// Request fields a template may map.
extern const std::vector<std::string> kTemplateFields;

struct GraphTemplate {
  std::string name, description;
  std::filesystem::path file;
  Graph graph;
  std::map<std::string, std::vector<std::string>> fields;  ///< field -> "NODE_ID.PARAM" targets
  /// name, description, fields with their targets and current values (GET /v1/templates).
  Json describe() const;
  /// The graph with `values` ({"field": value}) applied. Throws Error(Usage) for an unknown field, a field
  /// this template does not map, or a value of the wrong type; Error(InvalidInput) for an out-of-range value.
  Graph instantiate(const Json& values) const;
};

class TemplateLibrary {
 public:
  /// Loads every *.lattice with a "template" object in `dir` (not recursive). Files without one are not
  /// templates and are skipped silently; broken templates are skipped and described in `problems`.
  void load(const std::filesystem::path& dir, std::vector<std::string>* problems);
  const GraphTemplate* find(const std::string& name) const;
  Json describe() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::map<std::string, GraphTemplate> templates_;
};

/// Parses a template file's "template" object against its graph. Throws Error(InvalidInput) naming the file.
GraphTemplate parse_template(const std::filesystem::path& file, Graph g);

}  // namespace lattice::serve
