#pragma once
/// LoRA files read as weight patches (nodes/models/weight_patch.h) on a transformer's checkpoint names (FLUX, Wan
/// 2.1, LTX-Video), to be merged into the tensors when they are uploaded: W' = W + strength·ΔW. The formats (plain
/// LoRA, ΔW = (alpha/rank)·up·down; LyCORIS LoHa and LoKr, with Tucker cores; DoRA; `.diff` full differences;
/// `.diff_b` and PEFT `.lora_B.bias` bias changes) and their scaling are nodes/models/lora_adapter.h; this file maps
/// module names. A DoRA magnitude per row is split with the rows of a fused module; one per input channel is
/// refused on a fused module split over several tensors (its norm would span them).
/// A module's bias change lands on `<target stem>.bias` of each of its targets.
///
/// Key conventions accepted for FLUX (the model's names are diffusers'):
///  - diffusers / PEFT: `[transformer.|base_model.model.]<diffusers module>.lora_A.weight` / `.lora_B.weight`
///    (also `.lora_down.weight` / `.lora_up.weight` and `.lora.down.weight` / `.lora.up.weight`);
///  - kohya sd-scripts: `lora_unet_<BFL module, dots as underscores>.lora_down.weight` / `.lora_up.weight`;
///  - BFL / ComfyUI: `[diffusion_model.|model.diffusion_model.]<BFL module>.lora_A.weight` etc.
/// BFL modules that fuse several diffusers matrices (qkv, single-block linear1) split the rows of ΔW (and of a
/// bias change) over the targets in order; final_layer.adaLN_modulation.1 swaps the halves of its rows (BFL
/// shift/scale vs diffusers scale/shift). The BFL RMSNorm scales (`img_attn.norm.query_norm.scale`...) are modules
/// too, for `.diff` keys.
///
/// Every model also takes its own (diffusers) names with those prefixes, and, with dots as underscores, after
/// `lora_unet_`, `lycoris_` (SimpleTuner's LyCORIS files) or `lora_transformer_` (OneTrainer).
///
/// For Wan 2.1 and LTX-Video (whose loaders rename original checkpoints to diffusers names) every tensor of the
/// model is known under its diffusers module name (`x` for `x.weight`, else the tensor's name, e.g.
/// `blocks.N.scale_shift_table`) and its original-layout one (Wan-AI: `blocks.N.self_attn.q`,
/// `cross_attn.k_img`, `ffn.0`, `head.head`...; Lightricks: `patchify_proj`, `adaln_single`, `q_norm`), each optionally
/// prefixed by `transformer.`, `base_model.model.`, `diffusion_model.` or `model.diffusion_model.`, or as kohya
/// `lora_unet_<name with dots as underscores>`. Their layouts fuse no matrices, so a module is one target.
///
/// FLUX.1 structural-control LoRAs (BFL's flux1-canny-dev-lora / flux1-depth-dev-lora, and the same in diffusers
/// names) change more than patches can: their img_in / x_embedder factors take 128 input channels (the packed
/// latent and the packed control latent), and they carry the q/k RMSNorm scales whole (BFL bare
/// `..._norm.scale`, diffusers `attn.norm_q.weight`...). apply_flux_lora does what diffusers'
/// FluxLoraLoaderMixin and ComfyUI do: x_embedder is widened with zero columns for the control channels (its bias
/// unchanged), then the LoRA's change (and its `.lora_B.bias` bias changes) is added; the norm scales are set
/// outright, whatever the strength (earlier patches of them dropped). A LoRA whose x_embedder factors are narrower
/// than a widened x_embedder (a plain LoRA after a control one, or the reverse) changes its first columns
/// (diffusers pads lora_A with zeros). Bare norm scales in any FLUX LoRA are set the same way (diffusers loads them
/// for every FLUX LoRA).
///
/// Every key of the file must be understood and every module must land on matrices of matching shape: a
/// LoRA for another model, or for a differently sized one, is Error(InvalidInput) naming the file and the keys or
/// the tensor, never silently ignored.

#include <memory>
#include <string>

#include "nodes/models/nn.h"
#include "nodes/models/weights.h"

namespace lattice {

/// A FLUX transformer's weights and patches after one more LoRA.
struct FluxLoraResult {
  /// The model's weights, or, when the LoRA widens x_embedder or sets tensors, a WeightSource::derived view of them
  /// with x_embedder.weight widened (zero columns, stored dtype) and the set tensors replaced.
  std::shared_ptr<WeightSource> weights;
  WeightPatches patches;  ///< the earlier patches (adjusted as in the header), then this LoRA's
  int in_channels = 0;    ///< x_embedder's input width afterwards (FluxConfig::in_channels)
};

/// Applies `lora` at `strength` on top of `model` (as loaded, diffusers names) already patched by `earlier`
/// (may be null): any FLUX LoRA, control LoRAs included. A control LoRA must widen x_embedder to twice the
/// model's out_channels (FluxConfig::control_channels), else Error(InvalidInput) naming the key. The file is
/// read (its keys parsed) once. At strength 0 the file is checked as at any other, and the result is `model`
/// and `earlier` unchanged: no widened x_embedder, no norm scales set (as ComfyUI's LoraLoader; see lora.cpp).
FluxLoraResult apply_flux_lora(const WeightSource& lora, const std::shared_ptr<WeightSource>& model, const WeightPatches* earlier,
                               float strength);

/// The same for the Wan 2.1 transformer (diffusers-named weights, as wan.load_transformer leaves them).
WeightPatches wan_lora_patches(const WeightSource& lora, const WeightSource& model, float strength);

/// The same for the LTX-Video transformer (diffusers-named weights, as ltx.load_transformer leaves them).
WeightPatches ltx_lora_patches(const WeightSource& lora, const WeightSource& model, float strength);

}  // namespace lattice
