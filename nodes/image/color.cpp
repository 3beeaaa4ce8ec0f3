// image.color: exposure, gamma and saturation. Computes on the device when the environment has a
// GpuService, else with the CPU twin (gpu/ops/image_color.h documents the math and how far the two differ).
#include "gpu/ops/image_color.h"
#include "nodes/gpu_service.h"
#include "nodes/image/image_common.h"
#include "nodes/image/image_gpu.h"

namespace lattice {
namespace {

/// The host path: what the node computes when no device is set up.
std::shared_ptr<ImageData> color_cpu(const ImageData& src, const gpu::ImageColorParams& p) {
  auto out = std::make_shared<ImageData>(src.width, src.height, src.channels, src.linear);
  gpu::image_color_cpu(src.pixels, out->pixels, src.channels, p);
  return out;
}

NodeDesc make() {
  NodeDesc d;
  d.type = "image.color";
  d.category = "Image";
  d.description = "Exposure (stops), gamma and saturation; alpha is kept";
  d.version = 2;  // 2: on the device when there is one (pow may differ from the host's in the last bits)
  d.inputs = {{"image", PortType::Image, "source image"}};
  d.outputs = {{"image", PortType::Image, "adjusted image"}};
  d.params = {{"exposure", ParamType::Float, 0.0, "stops: pixel values are multiplied by 2^exposure", -20.0, 20.0},
              {"gamma", ParamType::Float, 1.0, "v -> v^(1/gamma) for positive values", 0.01, 100.0},
              {"saturation", ParamType::Float, 1.0, "0 = grey (Rec. 709 luma), 1 = unchanged", 0.0, 10.0}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& src = ctx.input_as<ImageData>("image");
    const gpu::ImageColorParams p{static_cast<float>(ctx.number("exposure")), static_cast<float>(ctx.number("gamma")),
                                  static_cast<float>(ctx.number("saturation"))};
    if (GpuService* g = ctx.env().get<GpuService>(); g == nullptr || !g->available() || src.pixels.empty()) {
      ctx.set_output("image", color_cpu(src, p));
      return;
    }
    // Per pixel, so an image larger than one device buffer runs in bands of rows (same result).
    gpu::Context& gc = gpu_context(ctx);
    auto out = std::make_shared<ImageData>(src.width, src.height, src.channels, src.linear);
    const int band = image_band_rows(gc, static_cast<int64_t>(src.width) * src.channels, src.height);
    for (int first = 0; first < src.height; first += band) {
      const int rows = std::min(band, src.height - first);
      gpu::CommandStream stream(gc);
      gpu::Tensor t = gpu::image_color(stream, image_rows_to_tensor(gc, src, first, rows), p);
      stream.finish();
      tensor_to_image_rows(t, *out, first);
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
