#pragma once
/// Wan 2.1 transformers in the original Wan-AI layout (the `diffusion_pytorch_model*.safetensors` of
/// Wan-AI/Wan2.1-T2V-14B and friends, and single-file copies of them): their tensors renamed to the diffusers
/// keys the model reads. The layouts hold the same tensors one for one (no fused projections), so this is
/// renaming only; nothing is copied. Note the swap of norms: the original's `norm3` (affine, before the
/// cross-attention) is diffusers' `norm2`.

#include <string>

#include "nodes/models/weights.h"

namespace lattice {

/// The original-layout name of a diffusers-named tensor (`blocks.3.attn1.to_q.weight` -> `blocks.3.self_attn.q.weight`),
/// or "" when it has none. The inverse of the renaming convert_wan_original() does (LoRA files use both names).
std::string wan_original_name(const std::string& diffusers_name);

/// True when the weights are in the original Wan-AI layout (they have `head.head.weight`).
bool is_wan_original(const WeightSource& w);

/// Renames an original-layout Wan transformer in place to diffusers names; does nothing to a diffusers one.
/// Throws Error(InvalidInput) naming a tensor it does not know, so that nothing is silently left unused.
void convert_wan_original(WeightSource& w);

}  // namespace lattice
