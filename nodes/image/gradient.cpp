// image.gradient: linear or radial blend between two colours.
#include <algorithm>

#include "nodes/image/image_common.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "image.gradient";
  d.category = "Image";
  d.description = "A horizontal, vertical, diagonal or radial gradient between two colours";
  d.outputs = {{"image", PortType::Image, "the image"}};
  d.params = {{"width", ParamType::Int, 512, "width in pixels", 1, kMaxImageSide},
              {"height", ParamType::Int, 512, "height in pixels", 1, kMaxImageSide},
              {"start", ParamType::Color, Json::array({0.0, 0.0, 0.0, 1.0}), "colour at the start (centre if radial)"},
              {"end", ParamType::Color, Json::array({1.0, 1.0, 1.0, 1.0}), "colour at the end (corners if radial)"},
              {"direction", ParamType::Choice, "horizontal", "shape of the gradient", -INFINITY, INFINITY,
               {"horizontal", "vertical", "diagonal", "radial"}}};
  d.evaluate = [](EvalContext& ctx) {
    const int w = static_cast<int>(ctx.integer("width")), h = static_cast<int>(ctx.integer("height"));
    const auto a = ctx.color("start"), b = ctx.color("end");
    const std::string dir = ctx.string("direction");
    const int mode = dir == "horizontal" ? 0 : dir == "vertical" ? 1 : dir == "diagonal" ? 2 : 3;
    auto img = std::make_shared<ImageData>(w, h, 4);
    const float fx = w > 1 ? 1.0f / static_cast<float>(w - 1) : 0.0f, fy = h > 1 ? 1.0f / static_cast<float>(h - 1) : 0.0f;
    for (int y = 0; y < h; ++y) {
      float* row = img->row(y);
      for (int x = 0; x < w; ++x) {
        const float u = static_cast<float>(x) * fx, v = static_cast<float>(y) * fy;
        float t = mode == 0 ? u
                : mode == 1 ? v
                : mode == 2 ? 0.5f * (u + v)
                            : std::min(1.0f, std::sqrt(((u - 0.5f) * (u - 0.5f) + (v - 0.5f) * (v - 0.5f)) * 2.0f));
        for (int c = 0; c < 4; ++c) row[x * 4 + c] = a[c] + (b[c] - a[c]) * t;
      }
    }
    ctx.set_output("image", img);
  };
  d.plan = [](PlanContext& ctx) { ctx.set_output("image", image_plan(ctx.integer("width"), ctx.integer("height"), 4, 8)); };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
