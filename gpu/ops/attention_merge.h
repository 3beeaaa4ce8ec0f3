#pragma once
/// Exact merge of attention partials (gpu/ops/attention.h attention_partial) over disjoint key ranges, as
/// flash-decoding combines its splits: attention over keys A ∪ B is the mean of the two partial outputs weighted
/// by exp(lse): O = (e^lse_A O_A + e^lse_B O_B) / (e^lse_A + e^lse_B), lse = log(e^lse_A + e^lse_B), computed
/// relative to the larger lse so nothing overflows. Rows where both lse are -inf (every key masked) stay zeros,
/// as attention() gives them. Folding the partials of keys split in any way, in any order, gives attention over
/// all of them up to f32 rounding.
///
/// Layout: `acc` and `part` have contiguous f32 out [B, Lq, H, D] and lse [B, Lq, H] of equal shapes (as
/// attention_partial returns them). Records one dispatch that updates acc.out and acc.lse in place; nothing is
/// submitted.

#include "gpu/ops/attention.h"

namespace lattice::gpu {

void attention_merge(CommandStream& stream, const AttentionPartial& acc, const AttentionPartial& part);

}  // namespace lattice::gpu
