#pragma once
/// Step previews: latents to a small RGB picture by a per-pixel linear projection, cheap enough to run
/// after every sampling step.
///
/// The projection (rgb = W·z + b, one 3×C matrix and a bias) is not a table of constants: it is fitted at
/// run time from the model's own VAE encoder (fit_latent_rgb_from_encoder): a chart of solid colours is
/// encoded, and a least-squares fit maps the latents of each patch's interior back to its colour. So it
/// works for any VAE (FLUX's, Wan's, LTX's) and for fine-tuned ones, and costs one encode of a small image.
/// Without a VAE, preview_channels() shows the first three latent channels, each stretched to its range:
/// false colour, but the composition is visible.
///
/// Images are sRGB-encoded values in [0, 1] (what VAEs model), one pixel per latent pixel.

#include <functional>
#include <memory>
#include <vector>

#include "core/types/image.h"

namespace lattice {

struct LatentRgbProjection {
  int channels = 0;
  std::vector<float> weights;  ///< [3][channels], row-major
  std::vector<float> bias;     ///< [3]
};

/// Least-squares fit of rgb ≈ W·z + b over `samples` pairs: latents [samples][channels], rgb [samples][3].
/// A tiny ridge term keeps it defined when channels are collinear. Throws Error(Evaluation) when there are
/// fewer samples than unknowns.
LatentRgbProjection fit_latent_rgb(const std::vector<float>& latents, const std::vector<float>& rgb, int channels);

/// Encodes an image [3, H, W] in [-1, 1] (channel-major) to latents [channels, H/f, W/f] as the sampler sees them.
using LatentEncodeFn = std::function<std::vector<float>(const std::vector<float>& image, int height, int width)>;

/// Fits the projection from a VAE encoder with spatial downscale `downscale` and `channels` latent channels
/// by encoding a chart of 32 solid colours (each 4×4 latent pixels; the inner 2×2 are sampled).
LatentRgbProjection fit_latent_rgb_from_encoder(int downscale, int channels, const LatentEncodeFn& encode);

/// latent: [channels, h, w] (channel-major) -> an h×w RGB image through the projection, clamped to [0, 1].
std::shared_ptr<ImageData> project_latent_rgb(const LatentRgbProjection& p, const std::vector<float>& latent, int h, int w);

/// latent: [channels, h, w] -> an h×w RGB image of channels 0, 1, 2 (repeated when fewer), each min-max stretched.
std::shared_ptr<ImageData> preview_channels(const std::vector<float>& latent, int channels, int h, int w);

}  // namespace lattice
