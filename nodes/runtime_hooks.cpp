// Connects the command line's hooks (app/hooks.h) to what nodes/ provides: image metadata today,
// the GPU runtime and fixtures as they land.
#include "app/hooks.h"
#include "nodes/image/image_io.h"

namespace lattice {
namespace {

const bool registered = [] {
  auto& h = app::hooks();
  h.read_embedded_graph = [](const std::filesystem::path& p) { return read_embedded_graph(p); };
  return true;
}();

}  // namespace
}  // namespace lattice
