// Image nodes: file round trips (bit depths, float EXR), embedded graphs, and the pixel operations
// against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/document.h"
#include "core/engine.h"
#include "core/types/image.h"
#include "nodes/gpu_service.h"
#include "nodes/image/image_io.h"
#include "tests/support/gpu_limits.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

class ImageNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("lattice_img_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    opts.output_dir = dir;
    opts.base_dir = dir;
  }
  void TearDown() override { fs::remove_all(dir); }
  std::shared_ptr<const ImageData> eval(const std::string& json, const std::string& node) {
    Graph g = parse_graph(json);
    Value v = engine.evaluate(g, node, "image", opts);
    return std::dynamic_pointer_cast<const ImageData>(v);
  }
  static std::shared_ptr<ImageData> ramp(int w, int h, int c) {
    auto img = std::make_shared<ImageData>(w, h, c);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int k = 0; k < c; ++k) img->at(x, y, k) = static_cast<float>((x * 7 + y * 13 + k * 29) % 256) / 255.0f;
    return img;
  }
  fs::path dir;
  RenderOptions opts;
  MemoryCache mem;
  Engine engine{&mem};
};

TEST_F(ImageNodes, PngRoundTripAt8And16Bits) {
  auto img = ramp(37, 21, 4);
  for (const char* depth : {"8", "16"}) {
    const fs::path p = dir / (std::string("r") + depth + ".png");
    write_image(p, *img, depth, nullptr);
    auto back = read_image(p);
    ASSERT_EQ(back->width, 37);
    ASSERT_EQ(back->channels, 4);
    const float tol = std::string(depth) == "8" ? 0.5f / 255 + 1e-6f : 0.5f / 65535 + 1e-6f;
    for (size_t i = 0; i < img->pixels.size(); ++i) ASSERT_NEAR(back->pixels[i], img->pixels[i], tol) << depth << " " << i;
  }
}

TEST_F(ImageNodes, ExrKeepsFloatData) {
  auto img = std::make_shared<ImageData>(5, 3, 3, true);
  for (size_t i = 0; i < img->pixels.size(); ++i) img->pixels[i] = static_cast<float>(i) * 1.37f - 4.0f + 1e-3f;
  write_image(dir / "f.exr", *img, "float", nullptr);
  auto back = read_image(dir / "f.exr");
  EXPECT_TRUE(back->linear);
  EXPECT_EQ(back->pixels, img->pixels);  // bit exact, including negatives and values over 1
  write_image(dir / "h.exr", *img, "auto", nullptr);  // half
  auto half = read_image(dir / "h.exr");
  for (size_t i = 0; i < img->pixels.size(); ++i)
    EXPECT_NEAR(half->pixels[i], img->pixels[i], 1e-3f * std::max(1.0f, std::fabs(img->pixels[i])));
}

TEST_F(ImageNodes, TiffAndJpegWork) {
  auto img = ramp(16, 8, 3);
  write_image(dir / "a.tif", *img, "16", nullptr);
  EXPECT_NEAR(read_image(dir / "a.tif")->pixels[5], img->pixels[5], 1e-4f);
  write_image(dir / "a.jpg", *img, "auto", nullptr);
  EXPECT_EQ(read_image(dir / "a.jpg")->width, 16);
  EXPECT_THROW(write_image(dir / "a.png", *img, "float", nullptr), Error);
}

TEST_F(ImageNodes, EmbeddedGraphSurvivesPngAndExr) {
  const std::string graph = R"({"lattice":1,"nodes":[]})";
  for (const char* name : {"g.png", "g.exr"}) {
    write_image(dir / name, *ramp(4, 4, 4), "auto", &graph);
    auto back = read_embedded_graph(dir / name);
    ASSERT_TRUE(back) << name;
    EXPECT_EQ(*back, graph);
  }
  write_image(dir / "none.png", *ramp(4, 4, 4), "auto", nullptr);
  EXPECT_FALSE(read_embedded_graph(dir / "none.png"));
}

TEST_F(ImageNodes, UnreadableOrMissingFilesGiveClearErrors) {
  { std::ofstream(dir / "junk.png") << "this is not a png"; }
  try {
    read_image(dir / "junk.png");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("junk.png"), std::string::npos);
  }
  try {
    read_image(dir / "missing.png");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos);
  }
}

TEST_F(ImageNodes, LoadNodeReloadsWhenTheFileChanges) {
  write_image(dir / "in.png", *ramp(8, 8, 3), "8", nullptr);
  const std::string g = R"({"lattice":1,"nodes":[{"id":"l","type":"image.load","params":{"path":"in.png"}}]})";
  EXPECT_EQ(eval(g, "l")->width, 8);
  write_image(dir / "in.png", *ramp(12, 8, 3), "8", nullptr);
  EXPECT_EQ(eval(g, "l")->width, 12);
}

TEST_F(ImageNodes, ConstantGradientAndCrop) {
  auto c = eval(R"({"lattice":1,"nodes":[{"id":"c","type":"image.constant","params":{"width":3,"height":2,"color":[0.1,0.2,0.3]}}]})", "c");
  EXPECT_FLOAT_EQ(c->at(2, 1, 2), 0.3f);
  EXPECT_FLOAT_EQ(c->at(2, 1, 3), 1.0f);
  auto g = eval(R"({"lattice":1,"nodes":[{"id":"g","type":"image.gradient","params":{"width":5,"height":1}}]})", "g");
  EXPECT_FLOAT_EQ(g->at(0, 0, 0), 0.0f);
  EXPECT_FLOAT_EQ(g->at(2, 0, 0), 0.5f);
  EXPECT_FLOAT_EQ(g->at(4, 0, 0), 1.0f);
  auto cr = eval(R"({"lattice":1,"nodes":[{"id":"g","type":"image.gradient","params":{"width":5,"height":1}},
      {"id":"k","type":"image.crop","params":{"x":3,"y":0,"width":4,"height":1},"inputs":{"image":{"node":"g","output":"image"}}}]})", "k");
  EXPECT_EQ(cr->width, 4);
  EXPECT_FLOAT_EQ(cr->at(0, 0, 0), 0.75f);
  EXPECT_FLOAT_EQ(cr->at(2, 0, 3), 0.0f);  // outside: transparent
}

TEST_F(ImageNodes, ResizeKeepsConstantsAndIdentity) {
  for (const char* f : {"nearest", "bilinear", "bicubic"}) {
    auto r = eval(std::string(R"({"lattice":1,"nodes":[{"id":"c","type":"image.constant","params":{"width":7,"height":5,"color":[0.25,0.5,0.75,1]}},
      {"id":"r","type":"image.resize","params":{"width":13,"height":3,"filter":")") + f + R"("},"inputs":{"image":{"node":"c","output":"image"}}}]})", "r");
    ASSERT_EQ(r->width, 13);
    for (float v : r->pixels) ASSERT_TRUE(std::fabs(v - 0.25f) < 1e-5f || std::fabs(v - 0.5f) < 1e-5f ||
                                          std::fabs(v - 0.75f) < 1e-5f || std::fabs(v - 1.0f) < 1e-5f) << f << " " << v;
    auto id = eval(std::string(R"({"lattice":1,"nodes":[{"id":"g","type":"image.gradient","params":{"width":9,"height":4}},
      {"id":"r","type":"image.resize","params":{"width":9,"height":4,"filter":")") + f + R"("},"inputs":{"image":{"node":"g","output":"image"}}}]})", "r");
    for (int x = 0; x < 9; ++x) EXPECT_NEAR(id->at(x, 2, 0), x / 8.0f, 1e-5f) << f;
  }
}

TEST_F(ImageNodes, MergeModesAndColor) {
  auto run = [&](const char* mode, double mix) {
    return eval(std::string(R"({"lattice":1,"nodes":[
      {"id":"a","type":"image.constant","params":{"width":2,"height":2,"color":[0.5,0.5,0.5,1]}},
      {"id":"b","type":"image.constant","params":{"width":1,"height":1,"color":[0.2,0.4,1.0,0.5]}},
      {"id":"m","type":"image.merge","params":{"mode":")") + mode + R"(","mix":)" + std::to_string(mix) + R"(},
       "inputs":{"a":{"node":"a","output":"image"},"b":{"node":"b","output":"image"}}}]})", "m");
  };
  auto over = run("over", 1.0);
  EXPECT_NEAR(over->at(0, 0, 0), 0.2f * 0.5f + 0.5f * 0.5f, 1e-6f);
  EXPECT_NEAR(over->at(1, 1, 0), 0.5f, 1e-6f);  // outside b
  EXPECT_NEAR(run("add", 1.0)->at(0, 0, 2), 1.5f, 1e-6f);
  EXPECT_NEAR(run("multiply", 0.5)->at(0, 0, 1), 0.5f + (0.2f - 0.5f) * 0.5f, 1e-6f);
  EXPECT_NEAR(run("screen", 1.0)->at(0, 0, 0), 1 - 0.5f * 0.8f, 1e-6f);

  auto col = eval(R"({"lattice":1,"nodes":[
      {"id":"a","type":"image.constant","params":{"width":1,"height":1,"color":[0.25,0.5,1.0,0.3]}},
      {"id":"c","type":"image.color","params":{"exposure":1,"gamma":2,"saturation":0},"inputs":{"image":{"node":"a","output":"image"}}}]})", "c");
  const float r = std::sqrt(0.5f), g = 1.0f, b = std::sqrt(2.0f);
  const float luma = 0.2126f * r + 0.7152f * g + 0.0722f * b;
  EXPECT_NEAR(col->at(0, 0, 0), luma, 1e-5f);
  EXPECT_NEAR(col->at(0, 0, 2), luma, 1e-5f);
  EXPECT_NEAR(col->at(0, 0, 3), 0.3f, 1e-6f);
}

// With a GpuService in the environment, merge and color run on the device; the CPU path (no service, as
// in the tests above) is the reference. Merge is bit-equal; color's pow may differ in the last bits
// (tests/gpu/ops/image_color_test.cpp states the measured bound), so 1e-6 relative + 1e-6 absolute.
// Again with every device buffer limited to 1 KiB: color runs in bands of one row (37 x 4 floats = 592
// bytes), merge's images do not fit and take the CPU twin; with 256 bytes not even a row fits: an error.
class ImageNodesOnDevice : public ImageNodes, public ::testing::WithParamInterface<uint64_t> {};

const std::string kDeviceGraph = R"({"lattice":1,"nodes":[
      {"id":"a","type":"image.gradient","params":{"width":37,"height":23}},
      {"id":"b","type":"image.constant","params":{"width":19,"height":31,"color":[0.9,0.3,0.6,0.4]}},
      {"id":"m","type":"image.merge","params":{"mode":"screen","mix":0.8},
       "inputs":{"a":{"node":"a","output":"image"},"b":{"node":"b","output":"image"}}},
      {"id":"o","type":"image.merge","params":{"mode":"over","mix":1},
       "inputs":{"a":{"node":"m","output":"image"},"b":{"node":"b","output":"image"}}},
      {"id":"c","type":"image.color","params":{"exposure":0.6,"gamma":2.2,"saturation":1.4},
       "inputs":{"image":{"node":"o","output":"image"}}}]})";

TEST_P(ImageNodesOnDevice, MergeAndColorMatchTheHost) {
  auto host = eval(kDeviceGraph, "c");
  Environment env;
  auto service = test::gpu_with_buffer_limit(GetParam());
  env.set(service);
  RenderOptions gpu_opts = opts;
  gpu_opts.env = &env;
  MemoryCache gpu_mem;  // a fresh cache: the host's results must not be reused
  Engine gpu_engine{&gpu_mem};
  auto dev = std::dynamic_pointer_cast<const ImageData>(gpu_engine.evaluate(parse_graph(kDeviceGraph), "c", "image", gpu_opts));
  ASSERT_TRUE(dev);
  EXPECT_TRUE(service->started()) << "the nodes did not use the device";
  ASSERT_EQ(dev->width, host->width);
  ASSERT_EQ(dev->height, host->height);
  ASSERT_EQ(dev->channels, 4);
  for (size_t i = 0; i < host->pixels.size(); ++i)
    ASSERT_NEAR(dev->pixels[i], host->pixels[i], 1e-6 + 1e-6 * std::fabs(host->pixels[i])) << "at " << i;
}

INSTANTIATE_TEST_SUITE_P(BufferLimits, ImageNodesOnDevice, ::testing::Values(0u, 1024u));

TEST_F(ImageNodes, ColorRefusesAnImageWhoseRowsExceedTheDeviceBuffer) {
  Environment env;
  env.set(test::gpu_with_buffer_limit(256));
  RenderOptions gpu_opts = opts;
  gpu_opts.env = &env;
  MemoryCache gpu_mem;
  Engine gpu_engine{&gpu_mem};
  try {
    gpu_engine.evaluate(parse_graph(kDeviceGraph), "c", "image", gpu_opts);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Evaluation);
    EXPECT_NE(std::string(e.what()).find("exceeds the device's largest buffer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'c'"), std::string::npos) << "names the node: " << e.what();
  }
}

}  // namespace
}  // namespace lattice
