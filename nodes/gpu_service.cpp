#include "nodes/gpu_service.h"

#include "core/cache.h"

namespace lattice {

gpu::Context& GpuService::context() {
  if (!context_) {
    context_ = std::make_unique<gpu::Context>(selector_);
    install_reclaimer();
  }
  return *context_;
}

void GpuService::attach(Environment& env) {
  if (env_ == &env) return;
  env_ = &env;
  install_reclaimer();
}

void GpuService::install_reclaimer() {
  if (!context_ || !env_) return;
  // The environment owns this service, so it outlives the reclaimer; the loan is looked up per request
  // because the engine lends its cache only while it renders.
  context_->allocator().set_reclaimer([env = env_, device = context_.get()](uint64_t needed) -> uint64_t {
    const CacheLoan* loan = env->get<CacheLoan>();
    return loan && loan->cache ? loan->cache->spill_device(needed, device) : 0;
  });
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
  s->attach(ctx.env());
  return s->context();
}

}  // namespace lattice
