#pragma once
/// Small helpers shared by the image nodes: plan records and parameter sets that several nodes use.

#include <cmath>

#include "core/eval_context.h"
#include "core/types/image.h"

namespace lattice {

/// Plan info for an image of the given size; meta holds {"w","h","c"} for downstream plans.
inline PlanInfo image_plan(int64_t w, int64_t h, int64_t c, double flops_per_pixel = 0) {
  PlanInfo p;
  p.shape = "image " + std::to_string(w) + "x" + std::to_string(h) + "x" + std::to_string(c);
  p.flops = flops_per_pixel * static_cast<double>(w * h * c);
  p.activation_bytes = static_cast<uint64_t>(w * h * c) * sizeof(float);
  p.meta = {{"w", w}, {"h", h}, {"c", c}};
  return p;
}

/// The plan of an upstream image, or nullptr if it is unknown.
inline const PlanInfo* image_input_plan(const PlanContext& ctx, std::string_view port) {
  const PlanInfo* p = ctx.input(port);
  return p && p->meta.contains("w") ? p : nullptr;
}

inline float clamp01(float v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

}  // namespace lattice
