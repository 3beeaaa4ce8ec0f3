#include "nodes/models/parameter_count.h"

#include "nodes/models/checkpoint_shapes.h"

namespace lattice {

uint64_t parameter_count(const ClipTextConfig& c) { return element_count(clip_text_checkpoint_shapes(c)); }

uint64_t parameter_count(const ClipVisionConfig& c) { return element_count(clip_vision_checkpoint_shapes(c)); }

uint64_t parameter_count(const T5Config& c) { return element_count(t5_checkpoint_shapes(c)); }

uint64_t parameter_count(const AutoencoderKLConfig& c) { return element_count(autoencoder_kl_checkpoint_shapes(c)); }

}  // namespace lattice
