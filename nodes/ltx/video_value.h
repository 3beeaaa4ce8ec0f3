#pragma once
/// The Video value ltx.vae_decode emits, made in this one place: decoded frames [1, 3, T, H, W] in about
/// [-1, 1] -> T RGB frames in [0, 1] (diffusers' postprocess_video: x / 2 + 0.5, clamped) at `frame_rate`
/// frames per second (integer rates exact, NTSC rates such as 23.976 as n/1001, others in 1/1000ths).

#include <utility>
#include <vector>

#include "core/types/video.h"

namespace lattice {

/// The other direction, what the LTX-Video VAE encodes: frames (one size; RGB, grey repeated into R, G and B,
/// a fourth channel ignored) in [0, 1] -> [3, T, H, W] in [-1, 1] (diffusers' preprocess: x * 2 - 1), channel
/// planes first. ltx.encode_image passes one frame, ltx.encode_video all of a video's.
std::vector<float> ltx_vae_pixels(const std::vector<const ImageData*>& frames);

/// The frame rate as ltx_video_value() stores it: {numerator, denominator}.
std::pair<int, int> ltx_frame_rate(double frame_rate);

std::shared_ptr<const VideoData> ltx_video_value(const std::vector<int64_t>& shape, const std::vector<float>& decoded,
                                                 double frame_rate);

}  // namespace lattice
