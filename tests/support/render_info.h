#pragma once
// The figures a node reported in a render (RenderReport), or an empty object when it is not there.
#include <string>

#include "core/engine.h"

namespace lattice::test {

inline Json node_info(const RenderReport& r, const std::string& id) {
  for (const auto& n : r.nodes)
    if (n.id == id) return n.info;
  return Json::object();
}

}  // namespace lattice::test
