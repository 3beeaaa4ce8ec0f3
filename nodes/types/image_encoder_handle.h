#pragma once
/// What flows on ImageEncoder wires: a CLIP vision tower (a ModelHandle: checkpoint mapping and config on
/// the host, device weights on first use and releasable, see model_handles.h) with the image preprocessing
/// its pipeline configures (CLIPImageProcessor). Not written to the disk cache.

#include <memory>

#include "nodes/models/clip/image_preprocess.h"
#include "nodes/models/clip/vision_encoder.h"
#include "nodes/types/model_handles.h"

namespace lattice {

using ClipVisionHandle = ModelHandle<ClipVisionEncoder, ClipVisionConfig, PortType::ImageEncoder>;

class ImageEncoderData final : public Data {
 public:
  ImageEncoderData(std::shared_ptr<ClipVisionHandle> clip, ClipImageProcessorConfig processor)
      : clip(std::move(clip)), processor(processor) {}
  PortType type() const override { return PortType::ImageEncoder; }
  size_t bytes() const override { return sizeof(*this) + clip->bytes(); }
  std::string describe() const override { return "CLIP image encoder " + clip->origin(); }
  std::shared_ptr<ClipVisionHandle> clip;
  ClipImageProcessorConfig processor;
};

}  // namespace lattice
