#pragma once
/// Attention over sequences whose q, k or v would not fit one device buffer (Device::max_buffer_bytes:
/// 128 MiB on lavapipe; LATTICE_GPU_MAX_BUFFER_BYTES lowers it for tests).
///
/// The sequences come as token chunks: each q, k and v chunk is a packed-head [B, l, H*D] f32 tensor that
/// fits a buffer, and the chunks, in order, are the whole sequence (so q, k and v never exist in one piece).
/// The work is split three ways, none of which changes a result beyond f32 rounding:
///  - over heads: the keys and values of a group of heads are gathered from the chunks into one
///    [B, Lk, g*D] buffer each, g as large as fits (all heads when everything fits); a query row's result
///    depends only on its head's keys, so each group is an ordinary gpu::attention call.
///  - over queries: each q chunk attends to the gathered keys by itself and gives the output chunk of the
///    same rows.
///  - over keys, when even one head's keys [B, Lk, D] exceed a buffer: one head at a time, its keys in ranges
///    that fit; each range gives a partial result with its rows' log-sum-exp (gpu::attention_partial), folded
///    exactly into the rows' running result (gpu/ops/attention_merge.h). So any sequence length works.
/// `causal` (with `causal_offset`) holds for the whole sequences: each call gets the offset of its q chunk
/// against its key range, and key ranges that a q chunk cannot see are skipped; `bias` ([H or 1, Lq, Lk], contiguous) is sliced per q chunk, head group and key range; `key_mask`
/// ([B or 1, Lk], contiguous) per key range. One q chunk and one k/v chunk is exactly nn.h's attention().
#include <vector>

#include "gpu/ops/attention.h"
#include "gpu/tensor.h"

namespace lattice {

/// Output chunks [B, l_i, H*D], one per q chunk, rows as in q.
std::vector<gpu::Tensor> chunked_attention(gpu::CommandStream& s, const std::vector<gpu::Tensor>& q,
                                           const std::vector<gpu::Tensor>& k, const std::vector<gpu::Tensor>& v,
                                           int64_t heads, const gpu::AttentionOptions& options = {});

/// The most rows r such that a [batch, r, width] f32 tensor fits one buffer of `context`'s device (at least 1).
int64_t rows_per_buffer(gpu::Context& context, int64_t batch, int64_t width);

/// x [B, L, C] as chunks of at most `rows` rows each, contiguous copies (one view when x fits in one chunk).
std::vector<gpu::Tensor> split_rows(gpu::CommandStream& s, const gpu::Tensor& x, int64_t rows);

}  // namespace lattice
