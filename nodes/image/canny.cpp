// image.canny: Canny edge detection (Canny 1986, the steps of OpenCV's cv2.Canny with its defaults on a one-channel
// 8-bit image), the control image of FLUX.1-Canny-dev: image -> image.canny -> vae.encode -> flux.sample 'control'.
// Differences from cv2.Canny on colour input (as the FLUX Canny preprocessors call it): OpenCV takes each pixel's
// strongest per-channel gradient and works on integers, here the gradient is the float luma's, so edges of
// colour images can differ near the thresholds.
//  1. luma on the 8-bit scale: 255·(0.2126 R + 0.7152 G + 0.0722 B) of the values as stored (one channel: itself);
//     optionally blurred with a Gaussian of `blur` pixels sigma (0: none, as cv2.Canny and the FLUX Canny
//     preprocessors use it);
//  2. 3×3 Sobel gradients gx, gy (borders replicated), magnitude |gx| + |gy| (cv2's default L1 norm);
//  3. non-maximum suppression across the edge: the gradient direction is quantised to 0°, 45°, 90° or 135° (by
//     |gy| against |gx|·tan 22.5° and |gx|·tan 67.5°) and a pixel stays if its magnitude exceeds the neighbour
//     behind it and is at least the one ahead;
//  4. hysteresis: pixels above `high` are edges, and pixels above `low` 8-connected to an edge become edges.
// Output: RGB, 1 on edges and 0 elsewhere (a display-referred image, as the control images are).
#include <cmath>
#include <vector>

#include "core/error.h"
#include "nodes/image/image_common.h"

namespace lattice {
namespace {

// Values of a w×h plane at (x, y), with x and y clamped to the plane (replicated borders).
struct Plane {
  int w, h;
  std::vector<float> v;
  float at(int x, int y) const {
    x = x < 0 ? 0 : (x >= w ? w - 1 : x);
    y = y < 0 ? 0 : (y >= h ? h - 1 : y);
    return v[static_cast<size_t>(y) * w + x];
  }
};

Plane luma(const ImageData& img) {
  Plane p{img.width, img.height, std::vector<float>(static_cast<size_t>(img.width) * img.height)};
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const float l = img.channels >= 3 ? 0.2126f * img.at(x, y, 0) + 0.7152f * img.at(x, y, 1) + 0.0722f * img.at(x, y, 2)
                                        : img.at(x, y, 0);
      p.v[static_cast<size_t>(y) * img.width + x] = 255.0f * l;
    }
  return p;
}

// Separable Gaussian of `sigma` pixels (radius ceil(3·sigma)), borders replicated.
Plane blurred(const Plane& p, float sigma) {
  const int r = static_cast<int>(std::ceil(3 * sigma));
  std::vector<float> k(static_cast<size_t>(2 * r + 1));
  float sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[static_cast<size_t>(i + r)] = std::exp(-0.5f * static_cast<float>(i * i) / (sigma * sigma));
  for (float& x : k) x /= sum;
  Plane t = p, out = p;
  for (int y = 0; y < p.h; ++y)
    for (int x = 0; x < p.w; ++x) {
      float a = 0;
      for (int i = -r; i <= r; ++i) a += k[static_cast<size_t>(i + r)] * p.at(x + i, y);
      t.v[static_cast<size_t>(y) * p.w + x] = a;
    }
  for (int y = 0; y < p.h; ++y)
    for (int x = 0; x < p.w; ++x) {
      float a = 0;
      for (int i = -r; i <= r; ++i) a += k[static_cast<size_t>(i + r)] * t.at(x, y + i);
      out.v[static_cast<size_t>(y) * p.w + x] = a;
    }
  return out;
}

std::shared_ptr<ImageData> canny(const ImageData& src, float low, float high, float blur) {
  Plane l = luma(src);
  if (blur > 0) l = blurred(l, blur);
  const int w = l.w, h = l.h;
  auto idx = [w](int x, int y) { return static_cast<size_t>(y) * w + x; };
  Plane mag{w, h, std::vector<float>(l.v.size())};
  std::vector<int8_t> dir(l.v.size());  // 0: compare left/right, 1: up/down, 2: the (+1,+1) diagonal, 3: the (+1,-1) one
  const float t22 = 0.41421356f, t67 = 2.41421356f;  // tan 22.5°, tan 67.5°
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const float gx = (l.at(x + 1, y - 1) + 2 * l.at(x + 1, y) + l.at(x + 1, y + 1)) - (l.at(x - 1, y - 1) + 2 * l.at(x - 1, y) + l.at(x - 1, y + 1));
      const float gy = (l.at(x - 1, y + 1) + 2 * l.at(x, y + 1) + l.at(x + 1, y + 1)) - (l.at(x - 1, y - 1) + 2 * l.at(x, y - 1) + l.at(x + 1, y - 1));
      const float ax = std::fabs(gx), ay = std::fabs(gy);
      mag.v[idx(x, y)] = ax + ay;
      dir[idx(x, y)] = ay <= ax * t22 ? 0 : ay >= ax * t67 ? 1 : (gx * gy > 0 ? 2 : 3);
    }
  // Non-maximum suppression; magnitude 0 outside the image (no edge is kept for lack of a neighbour).
  auto m = [&](int x, int y) { return x < 0 || y < 0 || x >= w || y >= h ? 0.0f : mag.v[idx(x, y)]; };
  constexpr int kStep[4][2] = {{1, 0}, {0, 1}, {1, 1}, {1, -1}};
  std::vector<uint8_t> state(l.v.size(), 0);  // 0 none, 1 weak, 2 edge
  std::vector<int> stack;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const float v = mag.v[idx(x, y)];
      if (v <= low) continue;
      const int* s = kStep[dir[idx(x, y)]];
      if (!(v > m(x - s[0], y - s[1]) && v >= m(x + s[0], y + s[1]))) continue;
      state[idx(x, y)] = v > high ? 2 : 1;
      if (v > high) stack.push_back(static_cast<int>(idx(x, y)));
    }
  // Hysteresis: grow the edges through 8-connected weak pixels.
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    const int x = i % w, y = i / w;
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) {
        const int nx = x + dx, ny = y + dy;
        if (nx < 0 || ny < 0 || nx >= w || ny >= h || state[idx(nx, ny)] != 1) continue;
        state[idx(nx, ny)] = 2;
        stack.push_back(static_cast<int>(idx(nx, ny)));
      }
  }
  auto out = std::make_shared<ImageData>(w, h, 3, false);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) out->at(x, y, c) = state[idx(x, y)] == 2 ? 1.0f : 0.0f;
  return out;
}

NodeDesc make() {
  NodeDesc d;
  d.type = "image.canny";
  d.category = "Image";
  d.description = "Canny edges (as cv2.Canny: Sobel, L1 magnitude, non-maximum suppression, hysteresis): white edges on black, "
                  "the control image of FLUX.1-Canny-dev";
  d.inputs = {{"image", PortType::Image, "source image (RGB or grey; values in [0, 1])"}};
  d.outputs = {{"image", PortType::Image, "RGB edge map: 1 on edges, 0 elsewhere"}};
  d.params = {{"low", ParamType::Float, 50.0, "weak-edge threshold on the gradient magnitude of the 8-bit luma (0-255 scale)", 0.0, 10000.0},
              {"high", ParamType::Float, 200.0, "strong-edge threshold, same scale (at least 'low')", 0.0, 10000.0},
              {"blur", ParamType::Float, 0.0, "Gaussian blur sigma in pixels before the gradients (0 = none)", 0.0, 20.0}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& src = ctx.input_as<ImageData>("image");
    const float low = static_cast<float>(ctx.number("low")), high = static_cast<float>(ctx.number("high"));
    if (high < low)
      throw_invalid(ctx.who() + ": 'high' (" + std::to_string(high) + ") is below 'low' (" + std::to_string(low) + ")", {ctx.node_id()});
    ctx.set_output("image", canny(src, low, high, static_cast<float>(ctx.number("blur"))));
  };
  d.plan = [](PlanContext& ctx) {
    if (const PlanInfo* in = image_input_plan(ctx, "image"))
      ctx.set_output("image", image_plan(in->meta["w"].get<int64_t>(), in->meta["h"].get<int64_t>(), 3, 40));
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
