// image.constant: an image of one colour.
#include "nodes/image/image_common.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "image.constant";
  d.category = "Image";
  d.description = "An image filled with one colour";
  d.outputs = {{"image", PortType::Image, "the image"}};
  d.params = {{"width", ParamType::Int, 512, "width in pixels", 1, kMaxImageSide},
              {"height", ParamType::Int, 512, "height in pixels", 1, kMaxImageSide},
              {"color", ParamType::Color, Json::array({0.5, 0.5, 0.5, 1.0}), "RGBA colour"}};
  d.evaluate = [](EvalContext& ctx) {
    const auto c = ctx.color("color");
    auto img = std::make_shared<ImageData>(static_cast<int>(ctx.integer("width")), static_cast<int>(ctx.integer("height")), 4);
    for (size_t i = 0; i < img->pixels.size(); ++i) img->pixels[i] = c[i % 4];
    ctx.set_output("image", img);
  };
  d.plan = [](PlanContext& ctx) { ctx.set_output("image", image_plan(ctx.integer("width"), ctx.integer("height"), 4)); };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
