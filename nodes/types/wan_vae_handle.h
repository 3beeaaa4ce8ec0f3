#pragma once
/// The Wan 2.1 VAE on VAE wires (ModelHandle, see model_handles.h for ownership and offloading), and the
/// conversions between VAE video tensors and Video values that wan.vae_decode and wan.vae_encode share.
///
/// Latents on the wires of the Wan nodes are NORMALISED, as WanPipeline's sampler sees them:
/// (raw - latents_mean) / latents_std per channel. wan.vae_decode de-normalises before decoding and
/// wan.vae_encode normalises the encoder's mean (WanVae::denormalize / normalize).

#include <memory>
#include <optional>

#include "core/types/tensor.h"
#include "core/types/video.h"
#include "nodes/models/wan/vae.h"
#include "nodes/types/model_handles.h"

namespace lattice {

using WanVaeHandle = ModelHandle<WanVae, WanVaeConfig, PortType::VAE>;

/// Wan's frame rate (WanPipeline exports at 16 fps).
inline constexpr int kWanFps = 16;

/// Decoded video [1, 3, F, H, W] in [-1, 1] -> F RGB frames in [0, 1] (x / 2 + 0.5, clamped) at fps/1.
std::shared_ptr<VideoData> wan_video_from_decoded(const HostTensor& decoded, int fps);

/// Frames in [0, 1] -> the encoder's input [1, 3, F, H, W] values in [-1, 1] (gray frames are
/// repeated to RGB; alpha is dropped).
std::vector<float> wan_encoder_input(const std::vector<ImagePtr>& frames);

/// The encoder's input (wan_encoder_input's values of a [1, 3, F, H, W] `shape`) -> the NORMALISED mean latent (with
/// `sample_seed`, a draw from the encoder's distribution for that seed: nodes/models/vae/latent_sample.h), encoded
/// whole when the encoder's largest tensor fits one buffer and its working set half the budget (auto_tile_tensor_limit), else in the largest tiles that do
/// (WanVae::encode_tiled, at most 8 latent pixels of overlap); `auto_tile` gets that tile, or 0 when whole.
gpu::Tensor wan_encode_normalized(gpu::CommandStream& s, const WanVae& vae, const std::vector<float>& video, const gpu::Shape& shape,
                                  int64_t& auto_tile, std::optional<uint64_t> sample_seed = std::nullopt);

}  // namespace lattice
