#include "core/types/image.h"

#include "core/bytes.h"
#include "core/error.h"

namespace lattice {

ImageData::ImageData(int w, int h, int c, bool lin) : width(w), height(h), channels(c), linear(lin) {
  if (w <= 0 || h <= 0 || w > kMaxImageSide || h > kMaxImageSide)
    throw_eval("image size " + std::to_string(w) + "x" + std::to_string(h) + " is out of range (1.." +
               std::to_string(kMaxImageSide) + ")");
  if (c < 1 || c > 4) throw_eval("image channel count " + std::to_string(c) + " is out of range (1..4)");
  pixels.assign(static_cast<size_t>(w) * h * c, 0.0f);
}

std::string ImageData::describe() const {
  return "image " + std::to_string(width) + "x" + std::to_string(height) + "x" + std::to_string(channels) +
         (linear ? " linear" : "");
}

bool ImageData::serialize(std::string& out) const {
  ByteWriter w(out);
  w.pod<int32_t>(width);
  w.pod<int32_t>(height);
  w.pod<int32_t>(channels);
  w.pod<uint8_t>(linear ? 1 : 0);
  w.bytes(pixels.data(), pixels.size() * sizeof(float));
  return true;
}

}  // namespace lattice
