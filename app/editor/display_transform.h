#pragma once
/// How the viewer turns float pixels into what the screen shows, for display only: the image data is
/// never changed. Per pixel, in this order:
///   1. exposure: colour channels (not alpha) times 2^exposure (stops);
///   2. channel isolation: R, G, B or A alone, or Rec. 709 luminance of RGB, shown as grey (opaque);
///   3. clamp to [0, 1]; images marked linear are sRGB-encoded (values of sRGB files are shown as stored);
///   4. gamma: v^(1/gamma) on the encoded value (gamma 1 leaves it unchanged);
///   5. round to 8 bits. Non-finite values show as 0 (alpha as 1).
/// One-channel images are grey, two-channel ones grey + alpha.

#include <QImage>
#include <QVariantMap>
#include <memory>
#include <vector>

#include "core/types/image.h"

namespace lattice::editor {

enum class DisplayChannel { RGB, Red, Green, Blue, Alpha, Luminance };

struct DisplayOptions {
  double exposure = 0;  ///< stops
  double gamma = 1;     ///< > 0
  DisplayChannel channel = DisplayChannel::RGB;
};

/// 8-bit RGBA (straight alpha) for display.
QImage display_image(const ImageData& img, const DisplayOptions& o = {});

/// display_image with default options: what a file viewer would show.
inline QImage to_qimage(const ImageData& img) { return display_image(img); }

/// The stored values of pixel (x, y): {x, y, channels: "RGBA"/"RGB"/"YA"/"Y", values: [float...]}; an empty
/// map outside the image.
QVariantMap pixel_values(const ImageData& img, int x, int y);

/// What the viewer shows: one image, or the frames of a video at fps_num/fps_den frames per second.
struct ViewFrames {
  std::vector<std::shared_ptr<const ImageData>> frames;
  int fps_num = 0, fps_den = 1;  ///< fps_num 0: a still image
  bool isVideo() const { return fps_num > 0; }
};

}  // namespace lattice::editor

Q_DECLARE_METATYPE(lattice::editor::ViewFrames)
