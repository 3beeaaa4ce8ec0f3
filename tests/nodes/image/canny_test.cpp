// image.canny against a plain reference written here the textbook way (2-D Sobel kernels, the direction from atan2 in
// degrees, hysteresis by relaxation until nothing changes): the same edges pixel for pixel on shapes over a ramp; a
// vertical step gives one column of edges; a flat image none; blur removes noise edges; high < low is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "core/document.h"
#include "core/engine.h"
#include "core/types/image.h"
#include "nodes/image/image_io.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;

// The reference: edges[y * w + x] for an RGB image (thresholds on the 0-255 luma gradient, L1 magnitude).
std::vector<bool> reference_canny(const ImageData& img, float low, float high) {
  const int w = img.width, h = img.height;
  auto lum = [&](int x, int y) {
    x = std::clamp(x, 0, w - 1);
    y = std::clamp(y, 0, h - 1);
    return 255.0f * (0.2126f * img.at(x, y, 0) + 0.7152f * img.at(x, y, 1) + 0.0722f * img.at(x, y, 2));
  };
  const int kx[3][3] = {{-1, 0, 1}, {-2, 0, 2}, {-1, 0, 1}}, ky[3][3] = {{-1, -2, -1}, {0, 0, 0}, {1, 2, 1}};
  std::vector<float> mag(static_cast<size_t>(w * h));
  std::vector<double> angle(static_cast<size_t>(w * h));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      // The positive and negative taps summed apart (in the node's order, so that ties in the suppression agree).
      float gx_pos = 0, gx_neg = 0, gy_pos = 0, gy_neg = 0;
      for (int j = 0; j < 3; ++j)
        for (int i = 0; i < 3; ++i) {
          const float l = lum(x + i - 1, y + j - 1);
          (kx[j][i] > 0 ? gx_pos : gx_neg) += static_cast<float>(std::abs(kx[j][i])) * l;
          (ky[j][i] > 0 ? gy_pos : gy_neg) += static_cast<float>(std::abs(ky[j][i])) * l;
        }
      const float gx = gx_pos - gx_neg, gy = gy_pos - gy_neg;
      mag[static_cast<size_t>(y * w + x)] = std::fabs(gx) + std::fabs(gy);
      double a = std::atan2(static_cast<double>(gy), static_cast<double>(gx)) * 180.0 / M_PI;
      if (a < 0) a += 180.0;
      angle[static_cast<size_t>(y * w + x)] = a;
    }
  auto m = [&](int x, int y) { return x < 0 || y < 0 || x >= w || y >= h ? 0.0f : mag[static_cast<size_t>(y * w + x)]; };
  std::vector<int> state(static_cast<size_t>(w * h), 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double a = angle[static_cast<size_t>(y * w + x)];
      int dx = 1, dy = 0;  // across a vertical edge
      if (a >= 22.5 && a < 67.5) dx = 1, dy = 1;
      if (a >= 67.5 && a < 112.5) dx = 0, dy = 1;
      if (a >= 112.5 && a < 157.5) dx = 1, dy = -1;
      const float v = m(x, y);
      if (v > low && v > m(x - dx, y - dy) && v >= m(x + dx, y + dy)) state[static_cast<size_t>(y * w + x)] = v > high ? 2 : 1;
    }
  for (bool changed = true; changed;) {
    changed = false;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        if (state[static_cast<size_t>(y * w + x)] != 1) continue;
        for (int j = -1; j <= 1; ++j)
          for (int i = -1; i <= 1; ++i)
            if (x + i >= 0 && y + j >= 0 && x + i < w && y + j < h && state[static_cast<size_t>((y + j) * w + x + i)] == 2) {
              state[static_cast<size_t>(y * w + x)] = 2;
              changed = true;
            }
      }
  }
  std::vector<bool> edges(static_cast<size_t>(w * h));
  for (size_t i = 0; i < edges.size(); ++i) edges[i] = state[i] == 2;
  return edges;
}

class ImageCanny : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("lattice_canny_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    opts.base_dir = dir;
    opts.output_dir = dir;
  }
  void TearDown() override { fs::remove_all(dir); }
  // image.load of `img` (float EXR) -> image.canny with the given parameters.
  std::shared_ptr<const ImageData> canny(const ImageData& img, double low, double high, double blur = 0) {
    write_image(dir / "in.exr", img, "float", nullptr);
    Graph g = parse_graph(R"({"lattice": 1, "nodes": [
      {"id": "load", "type": "image.load", "params": {"path": "in.exr"}},
      {"id": "canny", "type": "image.canny", "inputs": {"image": {"node": "load", "output": "image"}}}]})");
    g.find("canny")->params = {{"low", low}, {"high", high}, {"blur", blur}};
    MemoryCache mem;
    Engine e(&mem);
    return std::dynamic_pointer_cast<const ImageData>(e.evaluate(g, "canny", "image", opts));
  }
  static std::vector<bool> edges(const ImageData& out) {
    std::vector<bool> e(static_cast<size_t>(out.width * out.height));
    for (int y = 0; y < out.height; ++y)
      for (int x = 0; x < out.width; ++x) {
        EXPECT_TRUE(out.at(x, y, 0) == 0.0f || out.at(x, y, 0) == 1.0f);
        EXPECT_EQ(out.at(x, y, 0), out.at(x, y, 2));
        e[static_cast<size_t>(y * out.width + x)] = out.at(x, y, 0) == 1.0f;
      }
    return e;
  }
  fs::path dir;
  RenderOptions opts;
};

TEST_F(ImageCanny, MatchesThePlainReferenceOnShapes) {
  // A disc and a rectangle of other colours over a diagonal ramp, with mild noise.
  ImageData img(53, 41, 3);
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> noise(-0.01f, 0.01f);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const bool disc = (x - 18) * (x - 18) + (y - 20) * (y - 20) < 110;
      const bool rect = x >= 32 && x < 47 && y >= 8 && y < 30;
      for (int c = 0; c < 3; ++c) {
        float v = 0.2f + 0.004f * static_cast<float>(x + y);
        if (disc) v = c == 0 ? 0.9f : 0.3f;
        if (rect) v = c == 2 ? 0.8f : 0.1f;
        img.at(x, y, c) = v + noise(rng);
      }
    }
  for (const auto& [low, high] : {std::pair{50.0, 200.0}, std::pair{20.0, 100.0}, std::pair{100.0, 400.0}}) {
    SCOPED_TRACE(std::to_string(low) + " " + std::to_string(high));
    const auto out = canny(img, low, high);
    ASSERT_EQ(out->width, 53);
    ASSERT_EQ(out->channels, 3);
    const auto got = edges(*out), want = reference_canny(img, static_cast<float>(low), static_cast<float>(high));
    size_t n = 0;
    for (bool b : want) n += b;
    EXPECT_GT(n, 40u);  // the outlines are there
    EXPECT_EQ(got, want);
  }
}

TEST_F(ImageCanny, StepGivesOneColumnFlatGivesNoneBlurRemovesNoise) {
  ImageData step(20, 12, 3), flat(20, 12, 3), noisy(40, 40, 3);
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 20; ++x)
      for (int c = 0; c < 3; ++c) {
        step.at(x, y, c) = x < 10 ? 0.0f : 1.0f;
        flat.at(x, y, c) = 0.5f;
      }
  const auto e = edges(*canny(step, 50, 200));
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 20; ++x) EXPECT_EQ(e[static_cast<size_t>(y * 20 + x)], x == 9) << x << "," << y;
  for (bool b : edges(*canny(flat, 0, 0))) EXPECT_FALSE(b);
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> u(0.3f, 0.7f);
  for (float& v : noisy.pixels) v = u(rng);
  auto count = [&](double blur) {
    size_t n = 0;
    for (bool b : edges(*canny(noisy, 50, 100, blur))) n += b;
    return n;
  };
  EXPECT_LT(count(2.0) * 4, count(0.0));
}

TEST_F(ImageCanny, HighBelowLowIsRefused) {
  ImageData img(8, 8, 3);
  try {
    canny(img, 100, 50);
    FAIL();
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(err.what()).find("node 'canny' (image.canny): 'high'"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace lattice
