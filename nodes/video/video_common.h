#pragma once
/// Small helpers shared by the video nodes: plan records.

#include "core/eval_context.h"
#include "core/types/video.h"

namespace lattice {

/// Plan info for a video; meta holds {"w","h","c","frames"} (frames -1 when unknown).
inline PlanInfo video_plan(int64_t w, int64_t h, int64_t c, int64_t frames) {
  PlanInfo p;
  p.shape = "video " + std::to_string(w) + "x" + std::to_string(h) + "x" + std::to_string(c) + " " +
            (frames < 0 ? std::string("? frames") : std::to_string(frames) + " frames");
  p.activation_bytes = static_cast<uint64_t>(w * h * c * std::max<int64_t>(frames, 1)) * sizeof(float);
  p.meta = {{"w", w}, {"h", h}, {"c", c}, {"frames", frames}};
  return p;
}

}  // namespace lattice
