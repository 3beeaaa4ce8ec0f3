#include "nodes/models/chunked_attention.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "gpu/command_stream.h"
#include "gpu/context.h"
#include "gpu/ops/attention_merge.h"
#include "gpu/ops/concat.h"
#include "gpu/ops/copy.h"
#include "nodes/models/nn.h"

namespace lattice {

using gpu::Tensor;

int64_t rows_per_buffer(gpu::Context& context, int64_t batch, int64_t width) {
  const uint64_t per_row =
      static_cast<uint64_t>(std::max<int64_t>(1, batch)) * static_cast<uint64_t>(std::max<int64_t>(1, width)) * 4;
  return static_cast<int64_t>(std::max<uint64_t>(1, context.device().max_buffer_bytes() / per_row));
}

std::vector<Tensor> split_rows(gpu::CommandStream& s, const Tensor& x, int64_t rows) {
  if (x.rank() != 3 || rows < 1)
    throw_eval("split_rows: " + x.describe() + " in chunks of " + std::to_string(rows) + " rows");
  if (x.dim(1) <= rows) return {x};
  std::vector<Tensor> out;
  for (int64_t r = 0; r < x.dim(1); r += rows)
    out.push_back(gpu::contiguous(s, gpu::narrow(x, 1, r, std::min(rows, x.dim(1) - r))));
  return out;
}

namespace {

int64_t total_rows(const std::vector<Tensor>& chunks) {
  int64_t n = 0;
  for (const auto& c : chunks) n += c.dim(1);
  return n;
}

/// Heads [first, first + count) of a packed [B, l, H*D] tensor as [B, count, l, D] (a view).
Tensor head_view(const Tensor& x, int64_t first, int64_t count, int64_t d) {
  const int64_t b = x.dim(0), l = x.dim(1), c = x.dim(2);
  return x.view({b, count, l, d}, {l * c, d, c, 1}, x.offset() + first * d);
}

/// Rows [row0, row0 + rows) and heads [first, first + count) of the token chunks, gathered into one contiguous
/// [B, rows, count*D] (the chunk itself when that is all of one chunk).
Tensor gather(gpu::CommandStream& s, const std::vector<Tensor>& chunks, int64_t row0, int64_t rows, int64_t first,
              int64_t count, int64_t d, int64_t heads) {
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (const auto& c : chunks) {
    const int64_t lo = std::max(row0, start), hi = std::min(row0 + rows, start + c.dim(1));
    if (lo < hi) {
      if (lo == start && hi - lo == c.dim(1) && count == heads && rows == c.dim(1)) return c;
      parts.push_back(gpu::narrow(gpu::narrow(c, 1, lo - start, hi - lo), 2, first * d, count * d));
    }
    start += c.dim(1);
  }
  return gpu::concat(s, parts, 1);
}

}  // namespace

std::vector<Tensor> chunked_attention(gpu::CommandStream& s, const std::vector<Tensor>& q, const std::vector<Tensor>& k,
                                      const std::vector<Tensor>& v, int64_t heads, const gpu::AttentionOptions& options) {
  if (q.empty() || k.empty() || k.size() != v.size() || heads < 1)
    throw_eval("chunked attention needs q chunks and as many k as v chunks, and heads >= 1");
  const int64_t B = q[0].dim(0), C = q[0].dim(2);
  auto check = [&](const Tensor& t, const char* what) {
    if (t.rank() != 3 || t.dim(0) != B || t.dim(2) != C || t.dtype() != gpu::DType::F32)
      throw_eval(std::string("chunked attention: ") + what + " chunk " + t.describe() + " should be f32 [" + std::to_string(B) +
                 ", l, " + std::to_string(C) + "]");
  };
  for (const auto& t : q) check(t, "q");
  for (size_t j = 0; j < k.size(); ++j) {
    check(k[j], "k");
    check(v[j], "v");
    if (k[j].dim(1) != v[j].dim(1))
      throw_eval("chunked attention: k chunk " + k[j].describe() + " and v chunk " + v[j].describe() + " differ");
  }
  if (C % heads)
    throw_eval("chunked attention: width " + std::to_string(C) + " is not a multiple of " + std::to_string(heads) + " heads");
  if (q.size() == 1 && k.size() == 1) return {attention(s, q[0], k[0], v[0], heads, options)};

  const int64_t D = C / heads, Lq = total_rows(q), Lk = total_rows(k);
  const uint64_t limit = s.context().device().max_buffer_bytes();
  const uint64_t head_bytes = static_cast<uint64_t>(B) * static_cast<uint64_t>(Lk) * static_cast<uint64_t>(D) * 4;
  // Heads in groups whose keys fit a buffer; when one head's keys do not, one head at a time over key ranges
  // that do, each range's partial result merged into the rows' running result (gpu/ops/attention_merge.h).
  const int64_t group = head_bytes <= limit ? std::min<int64_t>(heads, static_cast<int64_t>(limit / head_bytes)) : 1;
  const int64_t key_rows = head_bytes <= limit ? Lk : rows_per_buffer(s.context(), B, D);
  const Tensor& bias = options.bias;
  if (bias.defined() && (bias.rank() != 3 || !bias.contiguous() || bias.dim(1) != Lq || bias.dim(2) != Lk))
    throw_eval("chunked attention: bias " + bias.describe() + " should be a contiguous [H or 1, " + std::to_string(Lq) +
               ", " + std::to_string(Lk) + "]");
  const Tensor& mask = options.key_mask;
  if (mask.defined() && (mask.rank() != 2 || !mask.contiguous() || mask.dim(1) != Lk))
    throw_eval("chunked attention: key_mask " + mask.describe() + " should be a contiguous [B or 1, " +
               std::to_string(Lk) + "]");

  std::vector<std::vector<Tensor>> outs(q.size());
  std::vector<gpu::AttentionPartial> acc(q.size());
  // Each query chunk contiguous once, not once per head group and key range.
  std::vector<Tensor> qc(q.size());
  for (size_t i = 0; i < q.size(); ++i) qc[i] = q[i].contiguous() ? q[i] : gpu::contiguous(s, q[i]);
  for (int64_t h0 = 0; h0 < heads; h0 += group) {
    const int64_t g = std::min(group, heads - h0);
    for (auto& a : acc) a = {};
    for (int64_t j0 = 0; j0 < Lk; j0 += key_rows) {
      const int64_t n = std::min(key_rows, Lk - j0);
      if (options.causal && j0 > 0 && j0 > Lq - 1 + options.causal_offset) break;  // no query sees these keys
      const Tensor kh = gpu::split_heads(gather(s, k, j0, n, h0, g, D, heads), g);
      const Tensor vh = gpu::split_heads(gather(s, v, j0, n, h0, g, D, heads), g);
      gpu::AttentionOptions o = options;
      if (mask.defined()) o.key_mask = n == Lk ? mask : gpu::contiguous(s, gpu::narrow(mask, 1, j0, n));
      int64_t row = 0;
      for (size_t i = 0; i < q.size(); ++i) {
        const Tensor& qi = qc[i];
        const int64_t l = qi.dim(1);
        // Causal: this chunk's rows and this range's keys sit at `row` and `j0` of the whole sequences. A range
        // that starts past what the chunk's last row sees adds nothing (nor do the later ones); the first range
        // a chunk meets is always run, so that its result exists even when no key is visible to it.
        o.causal_offset = options.causal_offset + row - j0;
        if (options.causal && acc[i].out.defined() && j0 > row + l - 1 + options.causal_offset) {
          row += l;
          continue;
        }
        if (bias.defined()) {
          // Rows of this chunk, this group's heads (for a per-head bias) and this key range, made contiguous.
          Tensor b = gpu::narrow(bias, 1, row, l);
          if (bias.dim(0) > 1) b = gpu::narrow(b, 0, h0, g);
          if (n < Lk) b = gpu::narrow(b, 2, j0, n);
          o.bias = gpu::contiguous(s, b);
        }
        const Tensor qh = head_view(qi, h0, g, D);
        if (n == Lk) {
          acc[i].out = gpu::attention(s, qh, kh, vh, o);  // [B, l, g, D]
        } else if (!acc[i].out.defined()) {
          acc[i] = gpu::attention_partial(s, qh, kh, vh, o);
        } else {
          gpu::attention_merge(s, acc[i], gpu::attention_partial(s, qh, kh, vh, o));
        }
        row += l;
      }
    }
    for (size_t i = 0; i < q.size(); ++i) outs[i].push_back(acc[i].out.reshape({B, acc[i].out.dim(1), g * D}));
  }
  std::vector<Tensor> result;
  for (auto& parts : outs) result.push_back(parts.size() == 1 ? parts[0] : gpu::concat(s, parts, -1));
  return result;
}

}  // namespace lattice
