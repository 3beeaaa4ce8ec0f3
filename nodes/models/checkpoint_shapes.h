#pragma once
/// Every tensor a checkpoint of a given config holds, name and shape, for the components whose config lives
/// beside their model (CLIP text and vision towers, T5/UMT5 encoders, AutoencoderKL); the DiTs and video VAEs
/// have theirs beside their configs (flux_checkpoint_shapes, wan_checkpoint_shapes, wan_vae_tensor_shapes,
/// ltx_checkpoint_shapes). Parameter counts for plans (parameter_count.h) and the fixture runner's weight
/// check (fixture.h: check_fixture_weights) both read these tables, so the layout is written once.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nodes/models/clip/text_encoder.h"
#include "nodes/models/clip/vision_encoder.h"
#include "nodes/models/t5/encoder.h"
#include "nodes/models/vae/autoencoder_kl.h"

namespace lattice {

using CheckpointShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

/// transformers CLIPTextModel (`text_model.*`).
CheckpointShapes clip_text_checkpoint_shapes(const ClipTextConfig& c);
/// transformers CLIPVisionModel (`vision_model.*`), with `visual_projection` when c.projection_dim > 0.
CheckpointShapes clip_vision_checkpoint_shapes(const ClipVisionConfig& c);
/// transformers T5EncoderModel / UMT5EncoderModel (`shared`, `encoder.*`; one relative bias table, or one per
/// block when c.per_layer_position_bias).
CheckpointShapes t5_checkpoint_shapes(const T5Config& c);
/// diffusers AutoencoderKL: the encoder's and the decoder's tensors, each where asked for (a checkpoint may hold
/// only one of them).
CheckpointShapes autoencoder_kl_checkpoint_shapes(const AutoencoderKLConfig& c, bool encoder = true, bool decoder = true);

/// Elements of every tensor listed.
uint64_t element_count(const CheckpointShapes& shapes);

}  // namespace lattice
