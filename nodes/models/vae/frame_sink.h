#pragma once
/// How the video VAE decoders (WanVae::decode_frames, LtxVae::decode_frames) hand over decoded frames as they
/// finish: a sink called in frame order with [B, C, n, H, W] host f32 chunks and the index of the chunk's
/// first frame. FrameCollector gathers the chunks into one tensor for callers that want the whole video.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>

#include "core/error.h"
#include "core/types/tensor.h"

namespace lattice {

using DecodedFramesSink = std::function<void(const HostTensor& frames, int64_t first)>;

/// Copies the chunks into one [B, C, frames, H, W] f32 tensor, allocated at the first chunk.
class FrameCollector {
 public:
  explicit FrameCollector(int64_t frames) : frames_(frames) {}
  DecodedFramesSink sink() {
    return [this](const HostTensor& chunk, int64_t first) {
      const int64_t B = chunk.shape[0], C = chunk.shape[1], n = chunk.shape[2], plane = chunk.shape[3] * chunk.shape[4];
      if (out_.shape.empty()) {
        out_.shape = {B, C, frames_, chunk.shape[3], chunk.shape[4]};
        out_.data.resize(static_cast<size_t>(B * C * frames_ * plane) * sizeof(float));
      }
      if (first < 0 || first + n > frames_) throw_eval("video decoder: frames past the announced " + std::to_string(frames_));
      const float* src = reinterpret_cast<const float*>(chunk.data.data());
      float* dst = reinterpret_cast<float*>(out_.data.data());
      for (int64_t bc = 0; bc < B * C; ++bc) std::copy_n(src + bc * n * plane, n * plane, dst + (bc * frames_ + first) * plane);
    };
  }
  HostTensor take() { return std::move(out_); }

 private:
  int64_t frames_;
  HostTensor out_;
};

}  // namespace lattice
