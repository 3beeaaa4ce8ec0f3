#include "nodes/gpu_service.h"

namespace lattice {

gpu::Context& GpuService::context() {
  if (!context_) context_ = std::make_unique<gpu::Context>(selector_);
  return *context_;
}

bool GpuService::available() {
  if (!context_ && !tried_) {
    tried_ = true;
    try {
      context();
    } catch (const std::exception&) {
      // No usable device: callers with a host path take it; context() reports the reason when asked again.
    }
  }
  return context_ != nullptr;
}

gpu::Context& gpu_context(const EvalContext& ctx) {
  GpuService* s = ctx.env().get<GpuService>();
  if (!s) ctx.fail("no GPU service in this environment");
  return s->context();
}

}  // namespace lattice
