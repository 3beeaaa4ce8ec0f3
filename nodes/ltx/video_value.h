#pragma once
/// The Video value ltx.vae_decode emits, made in this one place: decoded frames [1, 3, T, H, W] in about
/// [-1, 1] -> RGB frames in [0, 1] (diffusers' postprocess_video: x / 2 + 0.5, clamped).
///
/// Until core/types/video.h lands on main, the value is a TensorValue of PortType::Video holding the frames
/// as [T, H, W, 3] f32 (frame rate not carried); only this function changes when the Video type arrives.

#include <vector>

#include "core/value.h"

namespace lattice {

Value ltx_video_value(const std::vector<int64_t>& shape, const std::vector<float>& decoded, double frame_rate);

}  // namespace lattice
