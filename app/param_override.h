#pragma once
/// Overriding one parameter of a graph by "NODE_ID.PARAM", shared by `lattice --render --set` and the HTTP
/// service (`{"set": {...}}`, template fields). Every failure is Error(Usage) naming the target and what the
/// node offers, so the command line exits 2 and the service answers 400 with the same words.

#include <string>

#include "core/error.h"
#include "core/graph.h"

namespace lattice::app {

struct ParamTarget {
  Node* node = nullptr;
  const ParamDesc* param = nullptr;
};

/// The node and parameter that `target` ("NODE_ID.PARAM") names in `g`. `what` prefixes messages
/// (e.g. "--set save.path").
ParamTarget find_param(Graph& g, const std::string& target, const std::string& what);

/// Sets a parameter from text, parsed as the parameter's type (`--set ID.PARAM=TEXT`, query strings).
void set_param_text(Graph& g, const std::string& target, const std::string& text, const std::string& what);

/// Sets a parameter from a JSON value; a JSON string given to a non-string parameter is parsed as text.
void set_param_json(Graph& g, const std::string& target, const Json& value, const std::string& what);

}  // namespace lattice::app
