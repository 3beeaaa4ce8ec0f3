#pragma once
/// Scaled dot-product attention: O = softmax(scale * Q K^T + key_mask + bias) V, flash style (an online
/// softmax streams over the keys; the [Lq, Lk] score matrix is never stored, so memory is O(L * D)).
///
/// Layout. Q is [B, H, Lq, D], K and V are [B, H, Lk, D], all f32 with any strides whose innermost (D)
/// stride is 1: a model's [B, L, H*D] projection is used in place through split_heads() (no permute
/// copy), as are [B, H, L, D] tensors. Lq and Lk may differ (cross-attention); D is 1..256. The result is
/// a new contiguous f32 tensor [B, Lq, H, D], which reshape()s for free to the [B, Lq, H*D] that the output
/// projection takes.
///
/// Options. `scale` defaults to 1/sqrt(D) (T5 passes 1). `key_mask`: additive f32 [B, Lk] or [1, Lk],
/// contiguous, added to every query's scores of that batch (LTX: (1 - m) * -10000; T5: -FLT_MAX on padded
/// keys). `bias`: additive f32 [H, Lq, Lk] or [1, Lq, Lk] (a leading batch dim of 1 is accepted),
/// contiguous (T5 relative position bias). `causal`: key j > query i + causal_offset excluded (offset 0 is
/// top-left aligned, as torch's is_causal; CLIP); a call on a slice of a longer sequence, queries from row q0
/// and keys from row k0, passes q0 - k0 (chunked_attention does). A query whose every key is -inf, or that
/// sees no key at all, gets zeros (PyTorch: NaN); finite masks such as -FLT_MAX behave exactly as in PyTorch.
///
/// Accuracy: f32 throughout; normalised MSE against a double reference below 1e-10 for unit-scale data.
///
/// Variants (gpu/variant.h; LATTICE_KERNEL_ATTENTION or `variant` forces one):
///  - "matmul": composed from the packed texel matmul (gpu/ops/matmul.h) on CPU devices: per (batch, head),
///    K and V packed on the device (gpu/ops/matmul_pack.h), then per block of query rows S = Q K^T into a
///    scratch score block (at most 8 MiB), an in-place row softmax (scale, key mask), O = S V. Needs D % 4 == 0
///    and no bias, causal mask or log-sum-exp (attention_partial). Chosen on CPU devices for D > 128 with at
///    least 128 keys and for D 65..128 with at least 2,048 keys (faster there per CPU-second); can be forced
///    wherever it applies. About 4 dispatches
///    per head and query block, scratch: one head's packed K and V, its Q rows, the score block.
///  - "texel": Q/K/V through RGBA32F uniform texel buffers; needs D % 4 == 0, offsets and strides that are
///    multiples of 4, buffers within maxTexelBufferElements. Chosen on CPU devices (lavapipe).
///  - "texel_tile": the same inputs, a score tile of 8 rows (4 above D = 128) x 16 keys per invocation
///    (attention_texel.comp). Chosen on CPU devices for D > 64 where "matmul" is not (faster there per
///    CPU-second than "texel"); can be forced wherever "texel" applies.
///  - "portable": storage buffers; applies everywhere.
/// Records one dispatch ("matmul": several); nothing is submitted. attention_partial() below also returns
/// each row's log-sum-exp, so that keys too long for one buffer can be split (nodes/models/chunked_attention.h).

#include <optional>
#include <string_view>

#include "gpu/tensor.h"

namespace lattice::gpu {

class CommandStream;

struct AttentionOptions {
  std::optional<float> scale;  ///< default 1/sqrt(D)
  Tensor key_mask;             ///< additive [B or 1, Lk], or undefined
  Tensor bias;                 ///< additive [H or 1, Lq, Lk] (optionally [1, ...]), or undefined
  bool causal = false;
  int64_t causal_offset = 0;   ///< with causal: query i sees keys j <= i + causal_offset
  std::string_view variant;    ///< force a variant by name (tests, benchmarks)
};

Tensor attention(CommandStream& stream, const Tensor& q, const Tensor& k, const Tensor& v,
                 const AttentionOptions& options = {});

/// Attention over part of the keys, in the form that gpu/ops/attention_merge.h combines exactly.
struct AttentionPartial {
  Tensor out;  ///< [B, Lq, H, D]: attention() over these keys only
  Tensor lse;  ///< [B, Lq, H]: log(sum_j exp(score_j)) over these keys; -inf where every score is -inf
};

/// attention() plus each row's log-sum-exp (the same dispatch, one more store per row). The keys may be any
/// range of a longer sequence, with key_mask and bias sliced to it and causal_offset shifted by the range's
/// first key (a row that sees none of these keys gets zeros and lse -inf, which attention_merge ignores).
AttentionPartial attention_partial(CommandStream& stream, const Tensor& q, const Tensor& k, const Tensor& v,
                                   const AttentionOptions& options = {});

/// Device bytes a call over lq queries and lk keys of head dim `dim` may hold besides its output until its
/// submission completes: the "matmul" variant's scratch (packed K and V of one head, a block of Q rows and one
/// of scores, each block at most 8 MiB) where a CPU device chooses it by shape, else 0 (the kernels hold none).
/// Plans are made without a device, so this counts by shape alone: exact on CPU devices, an upper bound on
/// GPUs (which never choose "matmul") and for calls with a bias, causal mask or log-sum-exp (which go to the
/// kernels). A forced "matmul" elsewhere is not counted.
uint64_t attention_scratch_bytes(int64_t lq, int64_t lk, int64_t dim);

/// The [B, H, L, D] view of x [B, L, H*D] (any offset; x contiguous): head h of token l is
/// x[b, l, h*D : (h+1)*D]. No copy; the view aliases x.
Tensor split_heads(const Tensor& x, int64_t heads);

}  // namespace lattice::gpu
