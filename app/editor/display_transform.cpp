#include "app/editor/display_transform.h"

#include <QVariantList>
#include <algorithm>
#include <cmath>

namespace lattice::editor {

namespace {

float srgb_encode(float v) { return v <= 0.0031308f ? v * 12.92f : 1.055f * std::pow(v, 1 / 2.4f) - 0.055f; }

}  // namespace

QImage display_image(const ImageData& img, const DisplayOptions& o) {
  QImage out(img.width, img.height, QImage::Format_RGBA8888);
  if (out.isNull()) return out;
  const float gain = static_cast<float>(std::exp2(o.exposure));
  const float inv_gamma = o.gamma > 0 ? static_cast<float>(1 / o.gamma) : 1.0f;
  auto encode = [&](float v) {
    if (!std::isfinite(v)) v = 0;
    v = std::clamp(v, 0.0f, 1.0f);
    if (img.linear) v = srgb_encode(v);
    if (inv_gamma != 1.0f) v = std::pow(v, inv_gamma);
    return static_cast<uchar>(std::lround(v * 255));
  };
  const int c = img.channels;
  const bool has_alpha = c == 2 || c == 4;
  for (int y = 0; y < img.height; ++y) {
    const float* src = img.row(y);
    uchar* dst = out.scanLine(y);
    for (int x = 0; x < img.width; ++x, src += c, dst += 4) {
      const float r = src[0] * gain, g = c >= 3 ? src[1] * gain : r, b = c >= 3 ? src[2] * gain : r;
      const float a = has_alpha ? src[c - 1] : 1.0f;
      float grey = 0;
      switch (o.channel) {
        case DisplayChannel::RGB:
          dst[0] = encode(r);
          dst[1] = encode(g);
          dst[2] = encode(b);
          // Alpha is coverage, never colour-encoded.
          dst[3] = static_cast<uchar>(std::lround(std::clamp(std::isfinite(a) ? a : 1.0f, 0.0f, 1.0f) * 255));
          continue;
        case DisplayChannel::Red: grey = r; break;
        case DisplayChannel::Green: grey = g; break;
        case DisplayChannel::Blue: grey = b; break;
        case DisplayChannel::Alpha: grey = std::isfinite(a) ? a : 1.0f; break;
        case DisplayChannel::Luminance: grey = 0.2126f * r + 0.7152f * g + 0.0722f * b; break;
      }
      // Alpha shown as grey is coverage too: no encoding, no gamma.
      const uchar v = o.channel == DisplayChannel::Alpha
                          ? static_cast<uchar>(std::lround(std::clamp(grey, 0.0f, 1.0f) * 255))
                          : encode(grey);
      dst[0] = dst[1] = dst[2] = v;
      dst[3] = 255;
    }
  }
  return out;
}

QVariantMap pixel_values(const ImageData& img, int x, int y) {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return {};
  static const char* const kNames[] = {"", "Y", "YA", "RGB", "RGBA"};
  QVariantList values;
  for (int i = 0; i < img.channels; ++i) values << static_cast<double>(img.at(x, y, i));
  return {{"x", x}, {"y", y}, {"channels", QString::fromLatin1(kNames[img.channels])}, {"values", values}};
}

}  // namespace lattice::editor
