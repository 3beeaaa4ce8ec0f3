#pragma once
/// LoRA files read as weight patches (nn.h WeightPatch) on a transformer's checkpoint names (FLUX, Wan 2.1,
/// LTX-Video), to be merged into the matrices when they are uploaded: W' = W + strength · (alpha/rank) · up·down, up [out, rank], down
/// [rank, in], alpha from the module's `.alpha` scalar when present, else alpha = rank.
///
/// Key conventions accepted for FLUX (the model's names are diffusers'):
///  - diffusers / PEFT: `[transformer.|base_model.model.]<diffusers module>.lora_A.weight` / `.lora_B.weight`
///    (also `.lora_down.weight` / `.lora_up.weight` and `.lora.down.weight` / `.lora.up.weight`);
///  - kohya sd-scripts: `lora_unet_<BFL module, dots as underscores>.lora_down.weight` / `.lora_up.weight`;
///  - BFL / ComfyUI: `[diffusion_model.|model.diffusion_model.]<BFL module>.lora_A.weight` etc.
/// BFL modules that fuse several diffusers matrices (qkv, single-block linear1) split the up rows over the
/// targets in order, sharing down; final_layer.adaLN_modulation.1 swaps the halves of its rows (BFL
/// shift/scale vs diffusers scale/shift).
///
/// For Wan 2.1 and LTX-Video (whose loaders rename original checkpoints to diffusers names) every 2-D weight of the
/// model is known under its diffusers module name and its original-layout one (Wan-AI: `blocks.N.self_attn.q`,
/// `cross_attn.k_img`, `ffn.0`, `head.head`...; Lightricks: `patchify_proj`, `adaln_single`), each optionally
/// prefixed by `transformer.`, `base_model.model.`, `diffusion_model.` or `model.diffusion_model.`, or as kohya
/// `lora_unet_<name with dots as underscores>`. Their layouts fuse no matrices, so a module is one target.
///
/// Every key of the file must be understood and every module must land on matrices of matching shape: a
/// LoRA for another model, or for a differently sized one, is Error(InvalidInput) naming the keys or the
/// tensor, never silently ignored.

#include <string>

#include "nodes/models/nn.h"
#include "nodes/models/weights.h"

namespace lattice {

/// Patches for the FLUX transformer whose (diffusers-named) weights are `model`, from the LoRA `lora`.
/// Patches with a zero factor are still made (the caller decides whether strength 0 skips the LoRA).
WeightPatches flux_lora_patches(const WeightSource& lora, const WeightSource& model, float strength);

/// The same for the Wan 2.1 transformer (diffusers-named weights, as wan.load_transformer leaves them).
WeightPatches wan_lora_patches(const WeightSource& lora, const WeightSource& model, float strength);

/// The same for the LTX-Video transformer (diffusers-named weights, as ltx.load_transformer leaves them).
WeightPatches ltx_lora_patches(const WeightSource& lora, const WeightSource& model, float strength);

}  // namespace lattice
