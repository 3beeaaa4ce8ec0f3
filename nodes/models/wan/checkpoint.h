#pragma once
/// Wan 2.1 transformers in the original Wan-AI layout (the `diffusion_pytorch_model*.safetensors` of
/// Wan-AI/Wan2.1-T2V-14B and friends, and single-file copies of them): their tensors renamed to the diffusers
/// keys the model reads. The layouts hold the same tensors one for one (no fused projections), so this is
/// renaming only; nothing is copied. Note the swap of norms: the original's `norm3` (affine, before the
/// cross-attention) is diffusers' `norm2`.

#include "nodes/models/weights.h"

namespace lattice {

/// True when the weights are in the original Wan-AI layout (they have `head.head.weight`).
bool is_wan_original(const WeightSource& w);

/// Renames an original-layout Wan transformer in place to diffusers names; does nothing to a diffusers one.
/// Throws Error(InvalidInput) naming a tensor it does not know, so that nothing is silently left unused.
void convert_wan_original(WeightSource& w);

}  // namespace lattice
