#pragma once
/// FLUX checkpoints in BFL's original layout (flux1-dev.safetensors, flux1-schnell.safetensors and the
/// single-file community copies of them): their tensors renamed to the diffusers keys the model reads.
///
/// Fused projections are split without copying (row ranges of the mapped file): double blocks' `qkv` into
/// to_q/to_k/to_v (and add_*_proj for text), single blocks' `linear1` into to_q/to_k/to_v/proj_mlp. The
/// final modulation's halves are stored (shift, scale) by BFL and (scale, shift) by diffusers; that one
/// tensor is reordered into host memory.

#include "nodes/models/flux/config.h"
#include "nodes/models/weights.h"

namespace lattice {

/// Renames a BFL-layout FLUX transformer in place to diffusers names. Throws Error(InvalidInput) naming the
/// first tensor that is missing or has an unexpected shape.
void convert_bfl_flux(WeightSource& w, const FluxConfig& c);

}  // namespace lattice
