// image.save: writes an image atomically, with the project graph embedded in its metadata.
#include "nodes/image/image_common.h"
#include "core/types/basic.h"
#include "nodes/image/image_io.h"

namespace lattice {
namespace {

NodeDesc make() {
  NodeDesc d;
  d.type = "image.save";
  d.category = "Image";
  d.description = "Write an image file; the format follows the extension; '#' becomes the frame number";
  d.inputs = {{"image", PortType::Image, "the image to write"}};
  d.outputs = {{"path", PortType::String, "absolute path of the written file"}};
  d.params = {{"path", ParamType::OutPath, "output.png", "file to write; relative paths go to the output folder"},
              {"depth", ParamType::Choice, "auto", "bits per channel: auto = 8-bit for PNG/JPEG, half for EXR",
               -INFINITY, INFINITY, {"auto", "8", "16", "half", "float"}},
              {"embed_graph", ParamType::Bool, true, "store the project in the file so that it can be re-rendered"}};
  d.side_effect = true;
  d.disk_cacheable = false;
  d.evaluate = [](EvalContext& ctx) {
    const auto path = std::filesystem::absolute(ctx.out_path("path"));
    if (ctx.string("path").empty()) ctx.fail("parameter 'path' is empty");
    std::string graph;
    if (ctx.flag("embed_graph") && ctx.document()) graph = ctx.document()->dump();
    write_image(path, ctx.input_as<ImageData>("image"), ctx.string("depth"), graph.empty() ? nullptr : &graph);
    ctx.wrote_file(path);
    ctx.set_output("path", make_string(path.string()));
  };
  d.plan = [](PlanContext& ctx) {
    PlanInfo p;
    p.shape = "file " + ctx.out_path("path").string();
    ctx.set_output("path", p);
  };
  return d;
}
LATTICE_REGISTER_NODE(make);

}  // namespace
}  // namespace lattice
