// image.color: exposure, gamma and saturation.
#include <cmath>

#include "nodes/image/image_common.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "image.color";
  d.category = "Image";
  d.description = "Exposure (stops), gamma and saturation; alpha is kept";
  d.inputs = {{"image", PortType::Image, "source image"}};
  d.outputs = {{"image", PortType::Image, "adjusted image"}};
  d.params = {{"exposure", ParamType::Float, 0.0, "stops: pixel values are multiplied by 2^exposure", -20.0, 20.0},
              {"gamma", ParamType::Float, 1.0, "v -> v^(1/gamma) for positive values", 0.01, 100.0},
              {"saturation", ParamType::Float, 1.0, "0 = grey (Rec. 709 luma), 1 = unchanged", 0.0, 10.0}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& src = ctx.input_as<ImageData>("image");
    const float gain = std::exp2(static_cast<float>(ctx.number("exposure")));
    const float inv_gamma = 1.0f / static_cast<float>(ctx.number("gamma"));
    const float sat = static_cast<float>(ctx.number("saturation"));
    auto out = std::make_shared<ImageData>(src.width, src.height, src.channels, src.linear);
    const int cc = src.channels >= 3 ? 3 : 1;  // colour channels; the rest is alpha
    const size_t n = static_cast<size_t>(src.width) * src.height;
    for (size_t i = 0; i < n; ++i) {
      const float* in = &src.pixels[i * src.channels];
      float* o = &out->pixels[i * src.channels];
      float v[3];
      for (int c = 0; c < cc; ++c) {
        float x = in[c] * gain;
        v[c] = x > 0 ? std::pow(x, inv_gamma) : x;
      }
      if (cc == 3) {
        const float luma = 0.2126f * v[0] + 0.7152f * v[1] + 0.0722f * v[2];
        for (int c = 0; c < 3; ++c) v[c] = luma + (v[c] - luma) * sat;
      }
      for (int c = 0; c < cc; ++c) o[c] = v[c];
      for (int c = cc; c < src.channels; ++c) o[c] = in[c];
    }
    ctx.set_output("image", out);
  };
  d.plan = [](PlanContext& ctx) {
    if (const PlanInfo* in = image_input_plan(ctx, "image"))
      ctx.set_output("image", image_plan(in->meta["w"].get<int64_t>(), in->meta["h"].get<int64_t>(), in->meta["c"].get<int64_t>(), 12));
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
