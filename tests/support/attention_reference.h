#pragma once
// The definition of scaled dot-product attention in double, for tests of gpu/ops/attention.h and of what is
// built on it (attention_merge, nodes/models/chunked_attention): scores, softmax, weighted sum of V, one query
// row at a time, with the op's conventions (additive key mask and bias, causal with an offset, zeros for a row whose
// every score is -inf) and each row's log-sum-exp of its scores.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace lattice::test {

// A host copy of a strided [B, H, L, D] operand.
struct HostView {
  std::vector<float> data;
  std::vector<int64_t> strides;
  int64_t offset = 0;
  double at(int64_t b, int64_t h, int64_t l, int64_t d) const {
    return data[static_cast<size_t>(offset + b * strides[0] + h * strides[1] + l * strides[2] + d * strides[3])];
  }
};

struct AttentionProblem {
  int64_t batch, heads, lq, lk, dim;
  double scale;
  std::vector<float> mask;  // additive [B or 1, Lk] (mask_per_batch), or empty
  bool mask_per_batch = true;
  std::vector<float> bias;  // additive [H or 1, Lq, Lk] (bias_per_head), or empty
  bool bias_per_head = true;
  bool causal = false;
  int64_t causal_offset = 0;  // with causal: query i sees keys j <= i + causal_offset
};

// Output [B, Lq, H, D]; `lse` (if given) gets [B, Lq, H]. Each score is rounded to f32 after the mask is added,
// as PyTorch does in f32: that is what makes -FLT_MAX keys exactly equal and a fully masked row a plain average.
inline std::vector<float> reference_attention(const HostView& q, const HostView& k, const HostView& v,
                                              const AttentionProblem& p, std::vector<float>* lse = nullptr) {
  const int64_t lk = p.lk;
  std::vector<float> out(static_cast<size_t>(p.batch * p.lq * p.heads * p.dim));
  if (lse) lse->assign(static_cast<size_t>(p.batch * p.lq * p.heads), 0.0f);
  std::vector<double> s(static_cast<size_t>(lk));
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.heads; ++h)
      for (int64_t i = 0; i < p.lq; ++i) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < lk; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < p.dim; ++d) dot += q.at(b, h, i, d) * k.at(b, h, j, d);
          double sc = dot * p.scale;
          if (!p.mask.empty()) sc += p.mask[static_cast<size_t>((p.mask_per_batch ? b : 0) * lk + j)];
          if (!p.bias.empty()) sc += p.bias[static_cast<size_t>(((p.bias_per_head ? h : 0) * p.lq + i) * lk + j)];
          if (p.causal && j > i + p.causal_offset) sc = -INFINITY;
          s[static_cast<size_t>(j)] = static_cast<float>(sc);
          mx = std::max(mx, s[static_cast<size_t>(j)]);
        }
        double sum = 0;
        for (auto& x : s) sum += (x = std::isinf(mx) ? 0.0 : std::exp(x - mx));
        const size_t row = static_cast<size_t>((b * p.lq + i) * p.heads + h);
        if (lse) (*lse)[row] = sum > 0 ? static_cast<float>(mx + std::log(sum)) : -std::numeric_limits<float>::infinity();
        for (int64_t d = 0; d < p.dim; ++d) {
          double o = 0;
          for (int64_t j = 0; j < lk; ++j) o += s[static_cast<size_t>(j)] * v.at(b, h, j, d);
          out[row * static_cast<size_t>(p.dim) + static_cast<size_t>(d)] = sum > 0 ? static_cast<float>(o / sum) : 0.0f;
        }
      }
  return out;
}

}  // namespace lattice::test
