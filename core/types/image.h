#pragma once
/// Host images: interleaved float32 pixels, row-major from the top-left, 1 to 4 channels.
/// Values are stored as the file holds them (sRGB-encoded for PNG/JPEG, linear for EXR); no colour
/// management is applied on load or save. `linear` records which, so that viewers and operations that
/// care (exposure) can say what they assume. Alpha, when present, is straight (not premultiplied).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/value.h"

namespace lattice {

class ByteReader;

class ImageData final : public Data {
 public:
  ImageData(int width, int height, int channels, bool linear = false);
  PortType type() const override { return PortType::Image; }
  size_t bytes() const override { return sizeof(*this) + pixels.size() * sizeof(float); }
  std::string describe() const override;
  bool serialize(std::string& out) const override;

  float* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * channels; }
  const float* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * channels; }
  float& at(int x, int y, int c) { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
  float at(int x, int y, int c) const { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }

  int width, height, channels;
  bool linear;
  std::vector<float> pixels;
};

/// Reads what ImageData::serialize wrote; throws Error(InvalidInput) on malformed or truncated bytes.
std::shared_ptr<ImageData> read_image(ByteReader& r);

/// Largest accepted image side; larger requests are refused with an error instead of an allocation failure.
constexpr int kMaxImageSide = 65536;

}  // namespace lattice
