// The viewer's display transform (app/editor/display_transform.h): exposure, gamma and channel isolation
// give the expected 8-bit pixels, the float data is never changed, and pixel_values returns stored floats.
#include "app/editor/display_transform.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lattice::editor {
namespace {

ImageData one_pixel(std::vector<float> v, bool linear = false) {
  ImageData img(1, 1, static_cast<int>(v.size()), linear);
  img.pixels = std::move(v);
  return img;
}

QColor shown(const ImageData& img, DisplayOptions o = {}) { return display_image(img, o).pixelColor(0, 0); }

TEST(DisplayTransform, DefaultShowsStoredValuesAndEncodesLinear) {
  EXPECT_EQ(shown(one_pixel({0.5f, 0.25f, 1.0f})), QColor(128, 64, 255));
  // linear 0.5 -> sRGB 1.055 * 0.5^(1/2.4) - 0.055 = 0.7354
  EXPECT_EQ(shown(one_pixel({0.5f, 0.5f, 0.5f}, true)).red(), 188);
  const QColor ga = shown(one_pixel({0.5f, 0.25f}));
  EXPECT_EQ(ga, QColor(128, 128, 128, 64));
}

TEST(DisplayTransform, ExposureScalesColourNotAlpha) {
  DisplayOptions o;
  o.exposure = 1;
  EXPECT_EQ(shown(one_pixel({0.25f, 0.125f, 0.5f, 0.5f}), o), QColor(128, 64, 255, 128));
  o.exposure = -2;
  EXPECT_EQ(shown(one_pixel({1.0f, 2.0f, 4.0f}), o), QColor(64, 128, 255));
}

TEST(DisplayTransform, GammaAppliesToEncodedValue) {
  DisplayOptions o;
  o.gamma = 2.2;
  EXPECT_EQ(shown(one_pixel({0.5f, 0.5f, 0.5f}), o).red(), static_cast<int>(std::lround(std::pow(0.5, 1 / 2.2) * 255)));
  o.gamma = 0.5;
  EXPECT_EQ(shown(one_pixel({0.5f, 0.5f, 0.5f}), o).red(), 64);
}

TEST(DisplayTransform, ChannelIsolationShowsOpaqueGrey) {
  const ImageData img = one_pixel({0.2f, 0.4f, 0.6f, 0.5f});
  auto grey = [&](DisplayChannel c) {
    DisplayOptions o;
    o.channel = c;
    const QColor q = shown(img, o);
    EXPECT_EQ(q.red(), q.green());
    EXPECT_EQ(q.red(), q.blue());
    EXPECT_EQ(q.alpha(), 255);
    return q.red();
  };
  EXPECT_EQ(grey(DisplayChannel::Red), 51);
  EXPECT_EQ(grey(DisplayChannel::Green), 102);
  EXPECT_EQ(grey(DisplayChannel::Blue), 153);
  EXPECT_EQ(grey(DisplayChannel::Alpha), 128);
  EXPECT_EQ(grey(DisplayChannel::Luminance), std::lround((0.2126 * 0.2 + 0.7152 * 0.4 + 0.0722 * 0.6) * 255));
}

TEST(DisplayTransform, NonFiniteValuesShowAsBlackAndDataIsUnchanged) {
  ImageData img = one_pixel({NAN, INFINITY, -1.0f});
  const std::vector<float> before = img.pixels;
  DisplayOptions o;
  o.exposure = 3;
  o.gamma = 2;
  EXPECT_EQ(shown(img, o), QColor(0, 0, 0)) << "NaN and inf show as 0, negatives clamp to 0";
  ASSERT_EQ(img.pixels.size(), before.size());
  EXPECT_TRUE(std::isnan(img.pixels[0]));
  EXPECT_EQ(img.pixels[1], before[1]);
  EXPECT_EQ(img.pixels[2], before[2]);
}

TEST(DisplayTransform, PixelValuesAreTheStoredFloats) {
  ImageData img(3, 2, 4, true);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = 0.1f * static_cast<float>(i) - 0.5f;
  const QVariantMap m = pixel_values(img, 2, 1);
  EXPECT_EQ(m["x"].toInt(), 2);
  EXPECT_EQ(m["y"].toInt(), 1);
  EXPECT_EQ(m["channels"].toString(), "RGBA");
  const QVariantList v = m["values"].toList();
  ASSERT_EQ(v.size(), 4);
  for (int c = 0; c < 4; ++c) EXPECT_FLOAT_EQ(v[c].toFloat(), img.at(2, 1, c));
  EXPECT_TRUE(pixel_values(img, 3, 0).isEmpty());
  EXPECT_TRUE(pixel_values(img, -1, 0).isEmpty());
  EXPECT_EQ(pixel_values(ImageData(1, 1, 1), 0, 0)["channels"].toString(), "Y");
}

}  // namespace
}  // namespace lattice::editor
