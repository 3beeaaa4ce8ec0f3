// image.merge: composite a foreground over a background (over, add, multiply, screen) with a mix factor.
#include "nodes/image/image_common.h"

namespace lattice {
namespace {

/// Channel c of pixel (x, y) as RGBA: missing colour channels repeat the grey value, missing alpha is 1.
float rgba(const ImageData& img, int x, int y, int c) {
  if (c == 3) return img.channels == 4 ? img.at(x, y, 3) : (img.channels == 2 ? img.at(x, y, 1) : 1.0f);
  return img.channels >= 3 ? img.at(x, y, c) : img.at(x, y, 0);
}

NodeDesc make() {
  NodeDesc d;
  d.type = "image.merge";
  d.category = "Image";
  d.description = "Composite image b onto image a (over, add, multiply, screen), blended by mix";
  d.inputs = {{"a", PortType::Image, "background; sets the output size"}, {"b", PortType::Image, "foreground, placed at the top-left"}};
  d.outputs = {{"image", PortType::Image, "the composite, RGBA"}};
  d.params = {{"mode", ParamType::Choice, "over", "how b combines with a", -INFINITY, INFINITY,
               {"over", "add", "multiply", "screen"}},
              {"mix", ParamType::Float, 1.0, "0 = a only, 1 = full effect", 0.0, 1.0}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& a = ctx.input_as<ImageData>("a");
    const auto& b = ctx.input_as<ImageData>("b");
    const std::string mode_name = ctx.string("mode");
    const int mode = mode_name == "over" ? 0 : mode_name == "add" ? 1 : mode_name == "multiply" ? 2 : 3;
    const float mix = static_cast<float>(ctx.number("mix"));
    auto out = std::make_shared<ImageData>(a.width, a.height, 4, a.linear);
    for (int y = 0; y < a.height; ++y)
      for (int x = 0; x < a.width; ++x) {
        const bool inside = x < b.width && y < b.height;
        const float ba = inside ? rgba(b, x, y, 3) : 0.0f;
        for (int c = 0; c < 4; ++c) {
          const float av = rgba(a, x, y, c);
          float r = av;
          if (inside) {
            const float bv = rgba(b, x, y, c);
            switch (mode) {
              case 0: r = c == 3 ? ba + av * (1 - ba) : bv * ba + av * (1 - ba); break;  // straight alpha
              case 1: r = c == 3 ? av : av + bv; break;
              case 2: r = c == 3 ? av : av * bv; break;
              default: r = c == 3 ? av : 1 - (1 - av) * (1 - bv); break;
            }
          }
          out->at(x, y, c) = av + (r - av) * mix;
        }
      }
    ctx.set_output("image", out);
  };
  d.plan = [](PlanContext& ctx) {
    const PlanInfo* in = image_input_plan(ctx, "a");
    if (in) ctx.set_output("image", image_plan(in->meta["w"].get<int64_t>(), in->meta["h"].get<int64_t>(), 4, 6));
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
