#pragma once
/// Patchify / unpatchify between a [B, C, F, H, W] latent and a token sequence [B, L, C·P] (P = pt·ph·pw),
/// tokens in (f, h, w) row-major order over the patch grid (F/pt, H/ph, W/pw). The packed channel order:
///   ChannelMajor: c·P + (t·ph + h)·pw + w   (FLUX's _pack_latents c·4 + dy·2 + dx; a patch Conv3d's
///                                             flattened weight order, as Wan's patch embedding)
///   PatchMajor:   ((t·ph + h)·pw + w)·C + c  (Wan's unpatchify of proj_out)
/// unpatchify is the exact inverse of patchify with the same order. Inputs: f32/f16/bf16, any strides;
/// outputs new contiguous tensors of the input dtype. Exact: views plus one copy dispatch; nothing is
/// submitted.

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

struct Patch {
  int64_t t = 1, h = 2, w = 2;
};
struct PatchGrid {
  int64_t f, h, w;  ///< patches along time, height, width
};
enum class PatchOrder { ChannelMajor, PatchMajor };

/// x [B, C, F, H, W] → [B, (F/t)(H/h)(W/w), C·P]; F, H, W must divide by the patch.
Tensor patchify(CommandStream& stream, const Tensor& x, Patch patch, PatchOrder order);
/// tokens [B, grid.f·grid.h·grid.w, channels·P] → [B, channels, grid.f·t, grid.h·h, grid.w·w].
Tensor unpatchify(CommandStream& stream, const Tensor& tokens, PatchGrid grid, Patch patch, int64_t channels,
                  PatchOrder order);

/// FLUX: x [B, C, h, w] → [B, (h/2)(w/2), 4C], packed channel c·4 + dy·2 + dx.
Tensor pack_latents(CommandStream& stream, const Tensor& x);
/// FLUX: tokens [B, (h/2)(w/2), 4C] → [B, C, h, w].
Tensor unpack_latents(CommandStream& stream, const Tensor& tokens, int64_t h, int64_t w);

}  // namespace lattice::gpu
