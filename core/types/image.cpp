#include "core/types/image.h"

#include <cstring>

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

std::shared_ptr<ImageData> read_image(ByteReader& r) {
  const int w = r.pod<int32_t>(), h = r.pod<int32_t>(), c = r.pod<int32_t>();
  const bool lin = r.pod<uint8_t>() != 0;
  if (w <= 0 || h <= 0 || w > kMaxImageSide || h > kMaxImageSide || c < 1 || c > 4)
    throw_invalid("image header out of range in cached data");
  const size_t n = static_cast<size_t>(w) * h * c * sizeof(float);
  if (n > r.remaining()) throw_invalid("truncated image in cached data");
  auto img = std::make_shared<ImageData>(w, h, c, lin);
  std::memcpy(img->pixels.data(), r.take(n), n);
  return img;
}

}  // namespace lattice
