// Checkpoint layouts: single file, diffusers component folder, sharded folder with an index, pipeline
// folder; and the ways each can be broken.
#include "nodes/models/weights.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class Weights : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("lattice_w_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  static HostTensor t(std::vector<int64_t> shape, float base) {
    std::vector<float> v(static_cast<size_t>(HostTensor{DType::F32, shape, {}}.numel()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = base + static_cast<float>(i);
    return HostTensor::from_f32(shape, v);
  }
  void write(const fs::path& p, const std::vector<std::pair<std::string, HostTensor>>& ts) {
    fs::create_directories(p.parent_path());
    std::vector<std::pair<std::string, const HostTensor*>> list;
    for (const auto& [n, x] : ts) list.emplace_back(n, &x);
    write_safetensors(p, list);
  }
  void expect_invalid(const fs::path& p, const std::string& fragment, const std::string& component = "") {
    try {
      WeightSource::open(p, component);
      ADD_FAILURE() << "accepted " << p;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
  fs::path dir;
};

TEST_F(Weights, SingleFileAndPrefixStripping) {
  write(dir / "model.safetensors", {{"model.diffusion_model.a.weight", t({2, 3}, 0)}, {"model.diffusion_model.b", t({4}, 10)}});
  auto w = WeightSource::open(dir / "model.safetensors");
  EXPECT_EQ(w.strip_prefix("model.diffusion_model."), 2u);
  EXPECT_EQ(w.names(), (std::vector<std::string>{"a.weight", "b"}));
  EXPECT_EQ(w.load("b").to_f32(), (std::vector<float>{10, 11, 12, 13}));
  EXPECT_EQ(w.info("a.weight").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w.total_bytes(), (6u + 4u) * 4u);
  EXPECT_THROW(w.info("c"), Error);
}

// load_f32 decodes from the mapping; it must agree with copying the stored bytes and decoding them, for every
// stored float type (bf16 and fp8 have exact f32 values, so equality is exact).
TEST_F(Weights, LoadF32DecodesTheMappingAsLoadDoes) {
  HostTensor bf16{DType::BF16, {2, 2}, {0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40, 0x00, 0x00}};  // 1, -2, 3.140625, 0
  HostTensor f8{DType::F8E4M3, {3}, {0x38, 0xb8, 0x7e}};                                 // 1, -1, 448
  write(dir / "m.safetensors", {{"bf16", bf16}, {"f8", f8}, {"f32", t({3}, 0.5f)}});
  auto w = WeightSource::open(dir / "m.safetensors");
  EXPECT_EQ(w.load_f32("bf16"), (std::vector<float>{1, -2, 3.140625f, 0}));
  EXPECT_EQ(w.load_f32("f8"), (std::vector<float>{1, -1, 448}));
  for (const char* name : {"bf16", "f8", "f32"}) EXPECT_EQ(w.load_f32(name), w.load(name).to_f32()) << name;
  EXPECT_THROW(w.load_f32("absent"), Error);
}

TEST_F(Weights, DiffusersFolderWithConfig) {
  write(dir / "transformer" / "diffusion_pytorch_model.safetensors", {{"x", t({1}, 1)}});
  std::ofstream(dir / "transformer" / "config.json") << R"({"num_layers": 3})";
  write(dir / "vae" / "diffusion_pytorch_model.safetensors", {{"y", t({1}, 2)}});
  auto tr = WeightSource::open(dir, "transformer");
  EXPECT_TRUE(tr.has("x"));
  ASSERT_TRUE(tr.config());
  EXPECT_EQ((*tr.config())["num_layers"], 3);
  EXPECT_TRUE(WeightSource::open(dir / "vae").has("y"));
  expect_invalid(dir, "no .safetensors weights", "text_encoder");
}

TEST_F(Weights, ShardedFolderFollowsTheIndex) {
  const fs::path d = dir / "transformer";
  write(d / "diffusion_pytorch_model-00001-of-00002.safetensors", {{"blocks.0.w", t({2}, 0)}, {"blocks.1.w", t({2}, 2)}});
  write(d / "diffusion_pytorch_model-00002-of-00002.safetensors", {{"blocks.2.w", t({2}, 4)}});
  std::ofstream(d / "diffusion_pytorch_model.safetensors.index.json") << R"({"metadata": {}, "weight_map": {
      "blocks.0.w": "diffusion_pytorch_model-00001-of-00002.safetensors",
      "blocks.1.w": "diffusion_pytorch_model-00001-of-00002.safetensors",
      "blocks.2.w": "diffusion_pytorch_model-00002-of-00002.safetensors"}})";
  auto w = WeightSource::open(d);
  EXPECT_EQ(w.names().size(), 3u);
  EXPECT_EQ(w.count_blocks("blocks."), 3);
  EXPECT_EQ(w.load("blocks.2.w").to_f32(), (std::vector<float>{4, 5}));

  // A shard that the index names but is missing.
  fs::rename(d / "diffusion_pytorch_model-00002-of-00002.safetensors", dir / "moved.safetensors");
  expect_invalid(d, "shard diffusion_pytorch_model-00002-of-00002.safetensors is missing");
  fs::rename(dir / "moved.safetensors", d / "diffusion_pytorch_model-00002-of-00002.safetensors");
  // A tensor in a shard the index does not assign it to.
  write(d / "diffusion_pytorch_model-00002-of-00002.safetensors", {{"blocks.2.w", t({2}, 4)}, {"stray", t({1}, 0)}});
  expect_invalid(d, "tensor 'stray' is not listed");
  // An index entry that no shard holds.
  write(d / "diffusion_pytorch_model-00002-of-00002.safetensors", {});
  expect_invalid(d, "tensor 'blocks.2.w' is not in shard");
  // A shard path escaping the folder.
  std::ofstream(d / "diffusion_pytorch_model.safetensors.index.json") << R"({"weight_map": {"a": "../x.safetensors"}})";
  expect_invalid(d, "must be a file in the same folder");
}

TEST_F(Weights, AmbiguousFoldersAndGapsAreRefused) {
  write(dir / "a.safetensors", {{"x", t({1}, 0)}});
  write(dir / "b.safetensors", {{"y", t({1}, 0)}});
  expect_invalid(dir, "several .safetensors files");
  write(dir / "c" / "m.safetensors", {{"blocks.0.w", t({1}, 0)}, {"blocks.2.w", t({1}, 0)}});
  auto w = WeightSource::open(dir / "c");
  EXPECT_THROW(w.count_blocks("blocks."), Error);
  expect_invalid(dir / "missing", "no such file");
}

}  // namespace
}  // namespace lattice
