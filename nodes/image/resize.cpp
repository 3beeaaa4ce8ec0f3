// image.resize: resampling with nearest, bilinear or bicubic (Catmull-Rom) filtering.
#include <algorithm>
#include <cmath>

#include "nodes/image/image_common.h"

namespace lattice {
namespace {

float cubic(float x) {  // Catmull-Rom (a = -0.5)
  x = std::fabs(x);
  if (x < 1) return 1.5f * x * x * x - 2.5f * x * x + 1;
  if (x < 2) return -0.5f * x * x * x + 2.5f * x * x - 4 * x + 2;
  return 0;
}

/// Separable weights for one axis: for each output index, the first source index and its taps.
struct Axis {
  std::vector<int> first;
  std::vector<std::vector<float>> w;
};

Axis make_axis(int src, int dst, const std::string& filter) {
  Axis a;
  const float scale = static_cast<float>(src) / static_cast<float>(dst);
  // When shrinking, widen the kernel so every source pixel contributes (no aliasing).
  const float support_scale = filter == "nearest" ? 1.0f : std::max(1.0f, scale);
  for (int o = 0; o < dst; ++o) {
    const float center = (static_cast<float>(o) + 0.5f) * scale - 0.5f;
    if (filter == "nearest") {
      a.first.push_back(std::clamp(static_cast<int>(std::floor(center + 0.5f)), 0, src - 1));
      a.w.push_back({1.0f});
      continue;
    }
    const float radius = (filter == "bilinear" ? 1.0f : 2.0f) * support_scale;
    const int lo = static_cast<int>(std::floor(center - radius)) + 1, hi = static_cast<int>(std::floor(center + radius));
    std::vector<float> w;
    float sum = 0;
    for (int i = lo; i <= hi; ++i) {
      const float x = (static_cast<float>(i) - center) / support_scale;
      const float k = filter == "bilinear" ? std::max(0.0f, 1.0f - std::fabs(x)) : cubic(x);
      w.push_back(k);
      sum += k;
    }
    for (auto& k : w) k /= sum;
    a.first.push_back(lo);
    a.w.push_back(std::move(w));
  }
  return a;
}

NodeDesc make() {
  NodeDesc d;
  d.type = "image.resize";
  d.category = "Image";
  d.description = "Resample an image to a new size";
  d.inputs = {{"image", PortType::Image, "source image"}};
  d.outputs = {{"image", PortType::Image, "resized image"}};
  d.params = {{"width", ParamType::Int, 512, "new width in pixels", 1, kMaxImageSide},
              {"height", ParamType::Int, 512, "new height in pixels", 1, kMaxImageSide},
              {"filter", ParamType::Choice, "bicubic", "resampling filter", -INFINITY, INFINITY,
               {"nearest", "bilinear", "bicubic"}}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& src = ctx.input_as<ImageData>("image");
    const int w = static_cast<int>(ctx.integer("width")), h = static_cast<int>(ctx.integer("height"));
    const std::string filter = ctx.string("filter");
    const int c = src.channels;
    const Axis ax = make_axis(src.width, w, filter), ay = make_axis(src.height, h, filter);
    // Horizontal pass into a temporary of size w x src.height, then vertical.
    std::vector<float> tmp(static_cast<size_t>(w) * src.height * c);
    for (int y = 0; y < src.height; ++y) {
      const float* in = src.row(y);
      for (int x = 0; x < w; ++x)
        for (int k = 0; k < c; ++k) {
          float acc = 0;
          for (size_t t = 0; t < ax.w[x].size(); ++t) {
            const int sx = std::clamp(ax.first[x] + static_cast<int>(t), 0, src.width - 1);
            acc += ax.w[x][t] * in[sx * c + k];
          }
          tmp[(static_cast<size_t>(y) * w + x) * c + k] = acc;
        }
    }
    auto out = std::make_shared<ImageData>(w, h, c, src.linear);
    for (int y = 0; y < h; ++y) {
      ctx.check_cancel();
      float* o = out->row(y);
      for (size_t t = 0; t < ay.w[y].size(); ++t) {
        const int sy = std::clamp(ay.first[y] + static_cast<int>(t), 0, src.height - 1);
        const float wt = ay.w[y][t];
        const float* in = tmp.data() + static_cast<size_t>(sy) * w * c;
        for (int i = 0; i < w * c; ++i) o[i] += wt * in[i];
      }
    }
    ctx.set_output("image", out);
  };
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* in = image_input_plan(ctx, "image");
    ctx.set_output("image", image_plan(ctx.integer("width"), ctx.integer("height"), in ? in->meta["c"].get<int64_t>() : 4, 16));
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
