#pragma once
/// CLIP image preprocessing as transformers' CLIPImageProcessor does it (the slow, PIL-based processor that
/// WanImageToVideoPipeline loads): convert to RGB, resize the shortest side to `shortest_edge` with PIL's
/// bicubic filter on 8-bit pixels, center crop, rescale by 1/255, normalize with the OpenAI CLIP mean and
/// std. Everything on the host, bit-exact with the reference (tests/golden/README.md, "CLIP image
/// processor").
///
/// Lattice images are floats as the file stores them; they are quantized to 8 bits first (round to
/// nearest, clamped to [0, 1]), which recovers an 8-bit PNG/JPEG's values exactly. Values are taken as
/// stored (no colour conversion), as every other node does. Grey images are replicated to RGB, alpha is
/// dropped (PIL's convert("RGB")). Stateless and thread-safe.

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/types/image.h"

namespace lattice {

struct ClipImageProcessorConfig {
  int shortest_edge = 224;  ///< size.shortest_edge; 0 = no resize
  int crop_height = 224, crop_width = 224;  ///< crop_size; 0 = no crop
  std::array<float, 3> image_mean{0.48145466f, 0.4578275f, 0.40821073f};  ///< OPENAI_CLIP_MEAN
  std::array<float, 3> image_std{0.26862954f, 0.26130258f, 0.27577711f};  ///< OPENAI_CLIP_STD

  /// From a preprocessor_config.json (keys size, crop_size, do_resize, do_center_crop, image_mean,
  /// image_std). Only the bicubic filter (resample 3), rescale by 1/255 and normalization are supported;
  /// anything else throws Error(InvalidInput) naming the key.
  static ClipImageProcessorConfig from_json(const nlohmann::json& j);
};

/// 8-bit interleaved RGB, row-major from the top-left.
struct Rgb8 {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  ///< width · height · 3
};

/// The image as 8-bit RGB (see the header comment). Throws Error(InvalidInput) for an empty image.
Rgb8 to_rgb8(const ImageData& image);

/// PIL's Image.resize(size, Image.BICUBIC) on an RGB image: a separable cubic filter (a = −0.5) widened by
/// the scale when shrinking, 22-bit fixed-point weights, horizontal pass then vertical, 8-bit rounding and
/// clamping after each. A pass whose size does not change is skipped, as PIL does.
Rgb8 resize_bicubic_pil(const Rgb8& in, int width, int height);

/// transformers' get_resize_output_image_size(default_to_square=False): (width, height) with the shortest
/// side set to `shortest_edge` and the other int(shortest_edge · long / short).
std::array<int, 2> shortest_edge_size(int width, int height, int shortest_edge);

/// pixel_values for one image: [3, crop_height, crop_width] f32, channel-major (NCHW without N).
/// Throws Error(InvalidInput) when the image is smaller than the crop after resizing (CLIPImageProcessor
/// would pad; with a shortest-edge resize to the crop size it never is).
std::vector<float> clip_preprocess(const ImageData& image, const ClipImageProcessorConfig& config = {});

}  // namespace lattice
