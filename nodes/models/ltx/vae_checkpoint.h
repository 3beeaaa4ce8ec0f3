#pragma once
/// LTX-Video VAEs in Lightricks' original naming (the `vae.` part of single-file checkpoints such as
/// ltx-video-2b-v0.9.5.safetensors, and the VAE files of the LTX-Video repository) renamed in place to the
/// diffusers keys LtxVae reads. Only names change; no tensor is copied.
///
/// The original numbers its blocks as one flat list per coder: the decoder's `up_blocks.N` are the mid
/// block, then depth-to-space upsamplers (a `conv`), groups of `res_blocks` and, where the width changes
/// (0.9.0), single resnets; the encoder's `down_blocks.N` are `res_blocks` groups, downsamplers (0.9.5+:
/// space-to-depth around a `conv.conv`; 0.9.0/0.9.1: a bare strided `conv`) and single widening resnets, the
/// last group being the mid block. Diffusers nests them: decoder.mid_block,
/// decoder.up_blocks.K.{conv_in,upsamplers.0,resnets}, encoder.down_blocks.K.{resnets,downsamplers.0,conv_out},
/// encoder.mid_block. The mapping is read from which kind each original block is (it has `res_blocks.`,
/// `conv1.conv.weight`, or `conv.conv.weight` / `conv.weight`) and the order of those stages, not from a
/// table of indices, so the 0.9.0, 0.9.1 and 0.9.5+ layouts all convert.
/// Inside blocks: `res_blocks` -> `resnets`, `conv_shortcut.{weight,bias}` -> `conv_shortcut.conv.*`,
/// `norm3.norm` -> `norm3`; `decoder.last_time_embedder` / `last_scale_shift_table` lose `last_`;
/// `per_channel_statistics.mean-of-means` / `std-of-means` become `latents_mean` / `latents_std` and the
/// other statistics are dropped.

#include "nodes/models/weights.h"

namespace lattice {

/// True when the (prefix-stripped) weights use the original LTX-Video VAE names.
bool is_ltx_vae_original(const WeightSource& w);

/// Renames an original-named LTX-Video VAE to diffusers names; does nothing to diffusers weights. Names
/// outside encoder.*, decoder.* and per_channel_statistics.* (a transformer in the same file) are left as
/// they are. Throws Error(InvalidInput) naming a block it cannot classify.
void convert_ltx_vae_original(WeightSource& w);

}  // namespace lattice
