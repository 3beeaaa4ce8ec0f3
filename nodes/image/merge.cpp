// image.merge: composite a foreground over a background (over, add, multiply, screen) with a mix factor.
// Computes on the device when the environment has a GpuService, else with the CPU twin (the math is
// documented in gpu/ops/image_merge.h).
#include "gpu/ops/image_merge.h"
#include "nodes/gpu_service.h"
#include "nodes/image/image_common.h"
#include "nodes/image/image_gpu.h"

namespace lattice {
namespace {

/// The host path: what the node computes when no device is set up.
std::shared_ptr<ImageData> merge_cpu(const ImageData& a, const ImageData& b, gpu::MergeMode mode, float mix) {
  auto out = std::make_shared<ImageData>(a.width, a.height, 4, a.linear);
  gpu::image_merge_cpu({a.pixels, a.width, a.height, a.channels}, {b.pixels, b.width, b.height, b.channels}, mode,
                       mix, out->pixels);
  return out;
}

NodeDesc make() {
  NodeDesc d;
  d.type = "image.merge";
  d.category = "Image";
  d.description = "Composite image b onto image a (over, add, multiply, screen), blended by mix";
  d.version = 2;  // 2: on the device when there is one
  d.inputs = {{"a", PortType::Image, "background; sets the output size"}, {"b", PortType::Image, "foreground, placed at the top-left"}};
  d.outputs = {{"image", PortType::Image, "the composite, RGBA"}};
  d.params = {{"mode", ParamType::Choice, "over", "how b combines with a", -INFINITY, INFINITY,
               {"over", "add", "multiply", "screen"}},
              {"mix", ParamType::Float, 1.0, "0 = a only, 1 = full effect", 0.0, 1.0}};
  d.evaluate = [](EvalContext& ctx) {
    const auto& a = ctx.input_as<ImageData>("a");
    const auto& b = ctx.input_as<ImageData>("b");
    const std::string m = ctx.string("mode");
    const gpu::MergeMode mode = m == "over"       ? gpu::MergeMode::Over
                                : m == "add"      ? gpu::MergeMode::Add
                                : m == "multiply" ? gpu::MergeMode::Multiply
                                                  : gpu::MergeMode::Screen;
    const float mix = static_cast<float>(ctx.number("mix"));
    GpuService* g = ctx.env().get<GpuService>();
    // The CPU twin is bit-equal (gpu/ops/image_merge.h), so images that do not fit one device buffer each
    // take it rather than being refused.
    auto fits = [&](int64_t floats) { return floats * sizeof(float) <= gpu_context(ctx).device().max_buffer_bytes(); };
    if (g == nullptr || !g->available() || a.pixels.empty() || b.pixels.empty() ||
        !fits(static_cast<int64_t>(a.pixels.size())) || !fits(static_cast<int64_t>(b.pixels.size())) ||
        !fits(static_cast<int64_t>(a.width) * a.height * 4)) {
      ctx.set_output("image", merge_cpu(a, b, mode, mix));
      return;
    }
    gpu::Context& gc = gpu_context(ctx);
    gpu::CommandStream stream(gc);
    gpu::Tensor out = gpu::image_merge(stream, image_to_tensor(gc, a), image_to_tensor(gc, b), mode, mix);
    stream.finish();
    ctx.set_output("image", tensor_to_image(out, a.linear));
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
