#include "nodes/models/clip/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace lattice {

namespace {

// PIL's 8-bit resampling: weights in fixed point with 22 fraction bits (32 − 8 − 2: room for the
// filter's negative lobes and overshoot).
constexpr int kPrecisionBits = 22;

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

struct Taps {
  int ksize = 0;
  std::vector<int> first, count;  // per output pixel
  std::vector<int32_t> weights;   // [out, ksize], fixed point
};

// One axis of PIL's resample: every output pixel's input range and normalised weights.
Taps taps(int in_size, int out_size) {
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;  // the bicubic filter's support is 2
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<size_t>(out_size));
  t.count.resize(static_cast<size_t>(out_size));
  t.weights.assign(static_cast<size_t>(out_size) * static_cast<size_t>(t.ksize), 0);
  std::vector<double> k(static_cast<size_t>(t.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    // Truncation toward zero, as C's (int) cast.
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    const double ss = 1.0 / filterscale;  // multiplied, not divided: PIL's rounding
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[static_cast<size_t>(x)] = bicubic((x + xmin - center + 0.5) * ss);
      sum += k[static_cast<size_t>(x)];
    }
    for (int x = 0; x < xmax; ++x) {
      const double v = sum != 0.0 ? k[static_cast<size_t>(x)] / sum : k[static_cast<size_t>(x)];
      const double fixed = v * (1 << kPrecisionBits);
      t.weights[static_cast<size_t>(xx) * static_cast<size_t>(t.ksize) + static_cast<size_t>(x)] =
          static_cast<int32_t>(v < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    t.first[static_cast<size_t>(xx)] = xmin;
    t.count[static_cast<size_t>(xx)] = xmax;
  }
  return t;
}

uint8_t clip8(int64_t acc) {
  // Arithmetic shift (floor), then clamp: PIL's lookup table over [-640, 639].
  return static_cast<uint8_t>(std::clamp<int64_t>(acc >> kPrecisionBits, 0, 255));
}

// One pass along x (horizontal) or y (vertical) of an interleaved RGB image.
Rgb8 pass(const Rgb8& in, int out_size, bool horizontal) {
  const Taps t = taps(horizontal ? in.width : in.height, out_size);
  Rgb8 out;
  out.width = horizontal ? out_size : in.width;
  out.height = horizontal ? in.height : out_size;
  out.pixels.resize(static_cast<size_t>(out.width) * static_cast<size_t>(out.height) * 3);
  const size_t in_row = static_cast<size_t>(in.width) * 3;
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      const int o = horizontal ? x : y;
      const int32_t* k = &t.weights[static_cast<size_t>(o) * static_cast<size_t>(t.ksize)];
      for (int c = 0; c < 3; ++c) {
        int64_t acc = int64_t{1} << (kPrecisionBits - 1);
        for (int i = 0; i < t.count[static_cast<size_t>(o)]; ++i) {
          const int src = t.first[static_cast<size_t>(o)] + i;
          const size_t at = horizontal ? static_cast<size_t>(y) * in_row + static_cast<size_t>(src) * 3
                                       : static_cast<size_t>(src) * in_row + static_cast<size_t>(x) * 3;
          acc += int64_t{in.pixels[at + static_cast<size_t>(c)]} * k[i];
        }
        out.pixels[(static_cast<size_t>(y) * static_cast<size_t>(out.width) + static_cast<size_t>(x)) * 3 + static_cast<size_t>(c)] =
            clip8(acc);
      }
    }
  return out;
}

std::array<float, 3> float3(const nlohmann::json& j, const char* key, std::array<float, 3> fallback) {
  if (!j.contains(key)) return fallback;
  const auto& v = j[key];
  if (!v.is_array() || v.size() != 3) throw_invalid(std::string("CLIP image processor config: '") + key + "' should be 3 numbers");
  return {v[0].get<float>(), v[1].get<float>(), v[2].get<float>()};
}

}  // namespace

ClipImageProcessorConfig ClipImageProcessorConfig::from_json(const nlohmann::json& j) {
  ClipImageProcessorConfig c;
  auto unsupported = [](const std::string& what) { throw_invalid("CLIP image processor config: " + what + " is not supported"); };
  if (j.value("resample", 3) != 3) unsupported("resample " + j["resample"].dump() + " (only 3, bicubic)");
  if (!j.value("do_rescale", true) || std::fabs(j.value("rescale_factor", 1.0 / 255.0) - 1.0 / 255.0) > 1e-12)
    unsupported("a rescale other than 1/255");
  if (!j.value("do_normalize", true)) unsupported("do_normalize false");
  if (j.contains("size")) {
    const auto& s = j["size"];
    if (s.is_number_integer()) c.shortest_edge = s.get<int>();
    else if (s.is_object() && s.contains("shortest_edge")) c.shortest_edge = s["shortest_edge"].get<int>();
    else unsupported("size " + s.dump() + " (only shortest_edge)");
  }
  if (!j.value("do_resize", true)) c.shortest_edge = 0;
  if (j.contains("crop_size")) {
    const auto& s = j["crop_size"];
    if (s.is_number_integer()) c.crop_height = c.crop_width = s.get<int>();
    else if (s.is_object() && s.contains("height") && s.contains("width")) {
      c.crop_height = s["height"].get<int>();
      c.crop_width = s["width"].get<int>();
    } else unsupported("crop_size " + s.dump());
  }
  if (!j.value("do_center_crop", true)) c.crop_height = c.crop_width = 0;
  if (c.shortest_edge < 0 || c.crop_height < 0 || c.crop_width < 0)
    throw_invalid("CLIP image processor config: size and crop_size cannot be negative");
  c.image_mean = float3(j, "image_mean", c.image_mean);
  c.image_std = float3(j, "image_std", c.image_std);
  return c;
}

Rgb8 to_rgb8(const ImageData& image) {
  if (image.width <= 0 || image.height <= 0 || image.channels <= 0) throw_invalid("CLIP preprocessing: empty image");
  Rgb8 out;
  out.width = image.width;
  out.height = image.height;
  out.pixels.resize(static_cast<size_t>(image.width) * static_cast<size_t>(image.height) * 3);
  const bool grey = image.channels < 3;  // L or LA
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      for (int c = 0; c < 3; ++c) {
        const float v = image.at(x, y, grey ? 0 : c);
        const float q = std::nearbyint(std::clamp(std::isnan(v) ? 0.0f : v, 0.0f, 1.0f) * 255.0f);
        out.pixels[(static_cast<size_t>(y) * static_cast<size_t>(image.width) + static_cast<size_t>(x)) * 3 + static_cast<size_t>(c)] =
            static_cast<uint8_t>(q);
      }
  return out;
}

Rgb8 resize_bicubic_pil(const Rgb8& in, int width, int height) {
  if (width <= 0 || height <= 0) throw_invalid("CLIP preprocessing: resize to " + std::to_string(width) + "x" + std::to_string(height));
  Rgb8 out = in;
  if (width != out.width) out = pass(out, width, true);
  if (height != out.height) out = pass(out, height, false);
  return out;
}

std::array<int, 2> shortest_edge_size(int width, int height, int shortest_edge) {
  const int short_side = std::min(width, height), long_side = std::max(width, height);
  // Python: int(size * long / short), a correctly rounded double quotient truncated.
  const int other = static_cast<int>(static_cast<double>(int64_t{shortest_edge} * long_side) / short_side);
  return width <= height ? std::array<int, 2>{shortest_edge, other} : std::array<int, 2>{other, shortest_edge};
}

std::vector<float> clip_preprocess(const ImageData& image, const ClipImageProcessorConfig& config) {
  Rgb8 rgb = to_rgb8(image);
  if (config.shortest_edge > 0) {
    const auto [w, h] = shortest_edge_size(rgb.width, rgb.height, config.shortest_edge);
    rgb = resize_bicubic_pil(rgb, w, h);
  }
  const int ch = config.crop_height > 0 ? config.crop_height : rgb.height;
  const int cw = config.crop_width > 0 ? config.crop_width : rgb.width;
  if (ch > rgb.height || cw > rgb.width)
    throw_invalid("CLIP preprocessing: a " + std::to_string(rgb.width) + "x" + std::to_string(rgb.height) +
                  " image is smaller than the " + std::to_string(cw) + "x" + std::to_string(ch) + " crop");
  const int top = (rgb.height - ch) / 2, left = (rgb.width - cw) / 2;
  std::vector<float> out(static_cast<size_t>(3) * static_cast<size_t>(ch) * static_cast<size_t>(cw));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < ch; ++y)
      for (int x = 0; x < cw; ++x) {
        const uint8_t v = rgb.pixels[(static_cast<size_t>(y + top) * static_cast<size_t>(rgb.width) + static_cast<size_t>(x + left)) * 3 +
                                     static_cast<size_t>(c)];
        // transformers: float32(float64(v) · (1/255)), then (x − mean) / std in float32.
        const auto scaled = static_cast<float>(static_cast<double>(v) * (1.0 / 255.0));
        out[(static_cast<size_t>(c) * static_cast<size_t>(ch) + static_cast<size_t>(y)) * static_cast<size_t>(cw) + static_cast<size_t>(x)] =
            (scaled - config.image_mean[static_cast<size_t>(c)]) / config.image_std[static_cast<size_t>(c)];
      }
  return out;
}

}  // namespace lattice
