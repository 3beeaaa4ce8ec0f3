#include <gtest/gtest.h>

#include <filesystem>

#include "core/document.h"
#include "core/engine.h"
#include "core/safetensors.h"

namespace lattice {
namespace {

TEST(TensorNodes, LoadAndSaveRoundTrip) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("lattice_tn_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  HostTensor a = HostTensor::from_f32({2, 3}, {1, 2, 3, 4, 5, 6});
  HostTensor b = HostTensor::from_f32({1}, {42});
  write_safetensors(dir / "in.safetensors", {{"alpha", &a}, {"beta", &b}});
  Graph g = parse_graph(R"({"lattice":1,"nodes":[
      {"id":"l","type":"tensor.load","params":{"path":"in.safetensors"}},
      {"id":"one","type":"tensor.load","params":{"path":"in.safetensors","name":"beta"}},
      {"id":"s","type":"tensor.save","params":{"path":"out.safetensors"},"inputs":{"tensors":{"node":"l","output":"tensors"}}},
      {"id":"s1","type":"tensor.save","params":{"path":"one.safetensors","name":"b2"},"inputs":{"tensor":{"node":"one","output":"tensor"}}}]})");
  RenderOptions o;
  o.base_dir = dir;
  o.output_dir = dir;
  MemoryCache mem;
  Engine e(&mem);
  auto r = e.render(g, o);
  EXPECT_EQ(r.outputs.size(), 2u);
  SafetensorsFile out(dir / "out.safetensors");
  EXPECT_EQ(out.load("alpha").to_f32(), a.to_f32());
  EXPECT_EQ(out.load("beta").shape, b.shape);
  SafetensorsFile one(dir / "one.safetensors");
  EXPECT_EQ(one.load("b2").to_f32(), std::vector<float>{42});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lattice
