#include "nodes/models/ltx/conditions.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace lattice {

namespace {

constexpr int64_t kPrefixFrames = 2;  // LTXConditionPipeline's num_prefix_latent_frames

std::string name(const std::vector<LtxCondition>& c, size_t i) {
  return "LTX-Video " + (c[i].name.empty() ? "condition " + std::to_string(i + 1) : c[i].name);
}

std::string shape_text(int64_t c, const std::string& f, int64_t h, int64_t w) {
  return "[1, " + std::to_string(c) + ", " + f + ", " + std::to_string(h) + ", " + std::to_string(w) + "]";
}

// torch.lerp(start, end, weight) as ATen computes it (the two forms keep either end exact).
float lerp(float start, float end, float weight) {
  return weight < 0.5f ? start + weight * (end - start) : end - (end - start) * (1.0f - weight);
}

}  // namespace

void ltx_check_conditions(const LtxConditionGrid& g, const std::vector<LtxCondition>& conditions) {
  const int64_t N = g.pixel_frames();
  for (size_t i = 0; i < conditions.size(); ++i) {
    const LtxCondition& c = conditions[i];
    const gpu::Tensor& l = c.latent;
    if (!l.defined() || l.rank() != 5 || l.dim(0) != 1 || l.dim(1) != g.channels || l.dim(3) != g.height ||
        l.dim(4) != g.width || l.dim(2) < 1)
      throw_invalid(name(conditions, i) + ": latent " + (l.defined() ? l.describe() : std::string("(none)")) + " should be " +
                    shape_text(g.channels, "f", g.height, g.width) + " (the video's latent size)");
    if (!(c.strength >= 0.0f && c.strength <= 1.0f))
      throw_eval(name(conditions, i) + ": strength " + std::to_string(c.strength) + " is outside [0, 1]");
    if (c.frame_index < 0 || c.frame_index >= N)
      throw_eval(name(conditions, i) + ": frame_index " + std::to_string(c.frame_index) + " is outside the video's " +
                 std::to_string(N) + " frames (0.." + std::to_string(N - 1) + ")");
    const int64_t appended = ltx_appended_frames(l.dim(2), c.frame_index, N, g.temporal_compression);
    if (appended > 0 && c.strength < 1.0f &&
        (!c.noise.defined() || c.noise.shape() != gpu::Shape{1, g.channels, appended, g.height, g.width}))
      throw_eval(name(conditions, i) + ": at frame " + std::to_string(c.frame_index) + " with strength < 1 it needs noise " +
                 shape_text(g.channels, std::to_string(appended), g.height, g.width) + ", got " +
                 (c.noise.defined() ? c.noise.describe() : std::string("none")));
  }
}

LtxConditionedTokens ltx_condition_tokens(const LtxConditionGrid& g, const std::vector<float>& video,
                                          const std::vector<LtxCondition>& conditions) {
  ltx_check_conditions(g, conditions);
  const int64_t C = g.channels, F = g.frames, hw = g.height * g.width;
  if (static_cast<int64_t>(video.size()) != C * F * hw)
    throw_eval("LTX-Video conditions: " + std::to_string(video.size()) + " latent values given for " +
               shape_text(C, std::to_string(F), g.height, g.width));
  std::vector<float> latents = video;  // [C, F, h, w]
  std::vector<float> frame_mask(static_cast<size_t>(F), 0.0f);
  // Mixes condition frames [from, from + n) (cond: [C, f, h, w]) into video frames [to, to + n).
  auto replace = [&](const std::vector<float>& cond, int64_t f, int64_t from, int64_t to, int64_t n, float strength) {
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < n; ++k)
        for (int64_t p = 0; p < hw; ++p) {
          float& v = latents[static_cast<size_t>((c * F + to + k) * hw + p)];
          v = lerp(v, cond[static_cast<size_t>((c * f + from + k) * hw + p)], strength);
        }
    std::fill_n(frame_mask.begin() + to, n, strength);
  };
  // Packs [C, n, h, w] tokens (f, h, w order) with their positions; the frame of latent frame j is
  // max(0, 8j + 1 - 8) + first, in pixel frames.
  const float per_second = static_cast<float>(1.0 / static_cast<double>(g.frame_rate));
  LtxConditionedTokens out;
  auto pack = [&](const std::vector<float>& x, int64_t n, int64_t first, const std::vector<float>& mask_of_frame) {
    for (int64_t k = 0; k < n; ++k)
      for (int64_t y = 0; y < g.height; ++y)
        for (int64_t xw = 0; xw < g.width; ++xw) {
          const int64_t p = y * g.width + xw;
          for (int64_t c = 0; c < C; ++c) out.packed.push_back(x[static_cast<size_t>((c * n + k) * hw + p)]);
          out.mask.push_back(mask_of_frame[static_cast<size_t>(k)]);
          const int64_t frame = std::max<int64_t>(0, k * g.temporal_compression + 1 - g.temporal_compression) + first;
          out.coords.push_back({static_cast<float>(frame) * per_second, static_cast<float>(y * g.spatial_compression),
                                static_cast<float>(xw * g.spatial_compression)});
        }
  };

  for (const LtxCondition& cond : conditions) {
    const int64_t f = cond.latent.dim(2);  // the latent's frames; `used` of them are what fits the video
    const int64_t used = ltx_condition_frames(f, cond.frame_index, g.pixel_frames(), g.temporal_compression);
    const std::vector<float> values = cond.latent.to_floats();
    if (cond.frame_index == 0) {
      replace(values, f, 0, 0, used, cond.strength);
      continue;
    }
    int64_t kept = used;  // latent frames appended
    if (used > kPrefixFrames) {
      // A clip: its frames past the prefix replace video frames from frame_index / 8 + 2 on.
      const int64_t start = cond.frame_index / g.temporal_compression + kPrefixFrames;
      replace(values, f, kPrefixFrames, start, used - kPrefixFrames, cond.strength);
      kept = kPrefixFrames;
    }
    std::vector<float> appended(static_cast<size_t>(C * kept * hw));
    const std::vector<float> noise = cond.strength < 1.0f ? cond.noise.to_floats() : std::vector<float>{};
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < kept; ++k)
        for (int64_t p = 0; p < hw; ++p) {
          const size_t at = static_cast<size_t>((c * kept + k) * hw + p);
          const float v = values[static_cast<size_t>((c * f + k) * hw + p)];
          // lerp(noise, condition, 1) is the condition exactly; the noise is needed only below 1.
          appended[at] = cond.strength < 1.0f ? lerp(noise[at], v, cond.strength) : v;
        }
    pack(appended, kept, cond.frame_index, std::vector<float>(static_cast<size_t>(kept), cond.strength));
  }
  out.appended = static_cast<int64_t>(out.mask.size());
  pack(latents, F, 0, frame_mask);
  return out;
}

}  // namespace lattice
