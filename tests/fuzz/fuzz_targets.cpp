#include "tests/fuzz/fuzz_targets.h"

#include <cstdlib>
#include <string_view>

#include "core/document.h"
#include "core/error.h"
#include "core/safetensors.h"

namespace lattice::fuzz {

void lattice_parser(const uint8_t* data, size_t size) {
  try {
    Graph g = parse_graph(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.lattice");
    (void)validate(g);
    // Whatever loads must save and load again to the same document.
    const std::string once = serialize_graph(g);
    const std::string twice = serialize_graph(parse_graph(once, "fuzz-roundtrip"));
    if (once != twice) std::abort();
  } catch (const Error&) {
  }
}

void safetensors_reader(const uint8_t* data, size_t size) {
  try {
    SafetensorsFile f({data, size}, "fuzz.safetensors");
    for (const auto& t : f.tensors()) {
      auto v = f.view(t);
      volatile uint8_t sink = 0;
      for (size_t i = 0; i < v.size(); i += 4096) sink = sink ^ v[i];
      if (!v.empty()) sink = sink ^ v[v.size() - 1];
    }
  } catch (const Error&) {
  }
}

}  // namespace lattice::fuzz
