#pragma once
/// Rotary position embedding (RoPE) from precomputed cos/sin tables, and the host builder of FLUX's tables.
///
/// rope(): x is f32 [..., L, C], contiguous (any offset); cos and sin are f32 [L, W], contiguous, with W
/// even and dividing C. Channel c uses table column c % W of its token's row: W = head dim applies one
/// table to every head of a [B, L, H*D] projection (FLUX, Wan), W = C rotates the whole inner dim before
/// the head split (LTX-Video). Pairs within each W-wide chunk:
///  - Interleaved: (x[2k], x[2k+1]) (FLUX, Wan, LTX);
///  - HalfSplit:   (x[k], x[k + W/2]) (the rotate_half convention of other models).
/// For a pair (a, b) at table columns (i, j): a' = a*cos[i] - b*sin[i], b' = b*cos[j] + a*sin[j], which is
/// x*cos + rot(x)*sin with tables as diffusers builds them (each angle repeated for both members).
/// Returns a new contiguous f32 tensor of x's shape; exact up to f32 rounding of one multiply-add.
/// Records one dispatch; nothing is submitted. Variants (gpu/variant.h, LATTICE_KERNEL_ROPE): "texel" on CPU
/// devices for Interleaved pairs with W and the offsets multiples of 4 (two pairs a texel), else "portable".

#include <cstdint>
#include <span>
#include <vector>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

enum class RopePairing { Interleaved, HalfSplit };

Tensor rope(CommandStream& stream, const Tensor& x, const Tensor& cos, const Tensor& sin,
            RopePairing pairing = RopePairing::Interleaved);

/// Host cos/sin tables, row-major [length, width].
struct RopeTables {
  int64_t length = 0, width = 0;
  std::vector<float> cos, sin;
};

/// FLUX's FluxPosEmbed: ids is [n, axes_dims.size()] row-major (ids = cat(txt_ids, img_ids)); for axis a of
/// dim d_a, freq_k = 1 / theta^(2k / d_a) and angle = ids[:, a] * freq_k in float64, then cos/sin cast to
/// float32, each repeated twice (interleaved), the axes concatenated in order: width = sum(axes_dims).
/// Throws Unsupported when an axis dim is odd or ids has the wrong size.
RopeTables flux_rope_tables(std::span<const float> ids, std::span<const int64_t> axes_dims, double theta = 10000.0);

}  // namespace lattice::gpu
