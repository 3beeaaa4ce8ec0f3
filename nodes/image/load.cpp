// image.load: reads PNG, JPEG, TIFF, EXR and every other format OpenImageIO knows.
#include "nodes/image/image_common.h"
#include "nodes/image/image_io.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "image.load";
  d.category = "Image";
  d.description = "Read an image file (PNG, JPEG, TIFF, EXR, ...); '#' in the path becomes the frame number";
  d.outputs = {{"image", PortType::Image, "the image, float pixels as stored in the file"}};
  d.params = {{"path", ParamType::InPath, "", "image file; relative paths are relative to the project file"}};
  d.evaluate = [](EvalContext& ctx) {
    const auto path = ctx.in_path("path");
    if (path.empty()) ctx.fail("parameter 'path' is empty");
    ctx.set_output("image", read_image(path));
  };
  d.plan = [](PlanContext& ctx) {
    const auto path = ctx.in_path("path");
    if (path.empty()) throw_invalid(ctx.who() + ": parameter 'path' is empty", {ctx.node_id()});
    const ImageHeader h = read_image_header(path);
    ctx.set_output("image", image_plan(h.width, h.height, h.channels));
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
