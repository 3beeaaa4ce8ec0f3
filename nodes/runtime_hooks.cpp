// Connects the command line's hooks (app/hooks.h) to what nodes/ provides: image metadata today,
// the GPU runtime and fixtures as they land.
#include <cstdio>

#include "app/hooks.h"
#include "gpu/device.h"
#include "nodes/gpu_service.h"
#include "nodes/image/image_io.h"
#include "nodes/types/model_handles.h"
#include "nodes/types/tensor_value.h"
#include "nodes/models/fixture.h"

namespace lattice {
namespace {

const bool registered = [] {
  register_tensor_value_types();
  register_conditioning_type();
  auto& h = app::hooks();
  h.read_embedded_graph = [](const std::filesystem::path& p) { return read_embedded_graph(p); };
  h.setup_environment = [](Environment& env, bool /*dry_run*/) { env.set(std::make_shared<GpuService>()); };
  h.peak_device_bytes = [](const Environment& env) -> uint64_t {
    const GpuService* s = env.get<GpuService>();
    return s ? s->peak_device_bytes() : 0;
  };
  h.list_devices = [](bool json) { return gpu::print_devices(json); };
  h.run_fixture = [](const std::string& in, const std::string& out) {
    const size_t n = run_fixture_file(in, out);
    std::printf("lattice: wrote %zu outputs to %s\n", n, out.c_str());
    return 0;
  };
  h.write_preview_png = [](const std::filesystem::path& p, const ImageData& img) { write_image(p, img, "8", nullptr); };
  return true;
}();

}  // namespace
}  // namespace lattice
