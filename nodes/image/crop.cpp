// image.crop: a rectangle of an image; parts outside the source are transparent black.
#include "nodes/image/image_common.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "image.crop";
  d.category = "Image";
  d.description = "Cut a rectangle out of an image (areas outside the source become transparent black)";
  d.inputs = {{"image", PortType::Image, "source image"}};
  d.outputs = {{"image", PortType::Image, "cropped image"}};
  d.params = {{"x", ParamType::Int, 0, "left edge in source pixels", -kMaxImageSide, kMaxImageSide},
              {"y", ParamType::Int, 0, "top edge in source pixels", -kMaxImageSide, kMaxImageSide},
              {"width", ParamType::Int, 256, "width of the rectangle", 1, kMaxImageSide},
              {"height", ParamType::Int, 256, "height of the rectangle", 1, kMaxImageSide}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& src = ctx.input_as<ImageData>("image");
    const int x0 = static_cast<int>(ctx.integer("x")), y0 = static_cast<int>(ctx.integer("y"));
    const int w = static_cast<int>(ctx.integer("width")), h = static_cast<int>(ctx.integer("height"));
    auto out = std::make_shared<ImageData>(w, h, src.channels, src.linear);
    for (int y = 0; y < h; ++y) {
      const int sy = y + y0;
      if (sy < 0 || sy >= src.height) continue;
      for (int x = 0; x < w; ++x) {
        const int sx = x + x0;
        if (sx < 0 || sx >= src.width) continue;
        for (int c = 0; c < src.channels; ++c) out->at(x, y, c) = src.at(sx, sy, c);
      }
    }
    ctx.set_output("image", out);
  };
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* in = image_input_plan(ctx, "image");
    ctx.set_output("image", image_plan(ctx.integer("width"), ctx.integer("height"), in ? in->meta["c"].get<int64_t>() : 4));
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
