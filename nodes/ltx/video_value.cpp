#include "nodes/ltx/video_value.h"

#include <algorithm>

#include "core/error.h"
#include "nodes/types/tensor_value.h"

namespace lattice {

Value ltx_video_value(const std::vector<int64_t>& shape, const std::vector<float>& decoded, double /*frame_rate*/) {
  if (shape.size() != 5 || shape[0] != 1 || shape[1] != 3) throw_eval("LTX-Video: decoded video should be [1, 3, T, H, W]");
  const int64_t T = shape[2], H = shape[3], W = shape[4], plane = T * H * W;
  std::vector<float> frames(static_cast<size_t>(plane * 3));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < plane; ++i)
      frames[static_cast<size_t>(i * 3 + c)] = std::clamp(decoded[static_cast<size_t>(c * plane + i)] / 2.0f + 0.5f, 0.0f, 1.0f);
  return std::make_shared<TensorValue>(PortType::Video, HostTensor::from_f32({T, H, W, 3}, frames));
}

}  // namespace lattice
