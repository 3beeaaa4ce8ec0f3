#pragma once
/// Parameter counts implied by model configs, for --dry-run plans made before weights are downloaded.
/// Each counts every weight and bias the corresponding checkpoint holds (nodes/models/checkpoint_shapes.h;
/// FluxConfig has its own).

#include <cstdint>

#include "nodes/models/clip/text_encoder.h"
#include "nodes/models/clip/vision_encoder.h"
#include "nodes/models/t5/encoder.h"
#include "nodes/models/vae/autoencoder_kl.h"

namespace lattice {

uint64_t parameter_count(const ClipTextConfig& c);
uint64_t parameter_count(const ClipVisionConfig& c);
uint64_t parameter_count(const T5Config& c);
uint64_t parameter_count(const AutoencoderKLConfig& c);

}  // namespace lattice
