#pragma once
// A plain matrix product in double for tests that state expected weights by definition (LoRA, LoHa, LoKr).
#include <cmath>
#include <cfloat>
#include <cstdint>
#include <vector>

namespace lattice::test {

/// x [n, r] · y [r, m], row-major, accumulated in double.
inline std::vector<double> dense_product(const std::vector<float>& x, const std::vector<float>& y, int64_t n, int64_t r, int64_t m) {
  std::vector<double> out(static_cast<size_t>(n * m), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j)
      for (int64_t k = 0; k < r; ++k) out[size_t(i * m + j)] += double(x[size_t(i * r + k)]) * y[size_t(k * m + j)];
  return out;
}

/// DoRA by its definition, in double: V = W + dW (dW already scaled by alpha/rank), W' = W + s·(m ⊙ V/(‖V‖ + ε) − W),
/// W and dW [rows, cols]; m has `rows` values (norm of each row) or cols/group values (norm over all rows of each
/// channel's `group` columns). ε = FLT_EPSILON, as the merge adds.
inline std::vector<double> dora_merge(const std::vector<double>& w, const std::vector<double>& dw, const std::vector<float>& m,
                                      int64_t rows, int64_t cols, int64_t group, double strength) {
  std::vector<double> v(w.size()), norm(group ? size_t(cols / group) : size_t(rows), 0.0), out(w.size());
  for (size_t i = 0; i < w.size(); ++i) v[i] = w[i] + dw[i];
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t i = 0; i < cols; ++i) norm[size_t(group ? i / group : o)] += v[size_t(o * cols + i)] * v[size_t(o * cols + i)];
  for (double& n : norm) n = std::sqrt(n) + FLT_EPSILON;
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t i = 0; i < cols; ++i) {
      const size_t c = size_t(group ? i / group : o), k = size_t(o * cols + i);
      out[k] = w[k] + strength * (m[c] * v[k] / norm[c] - w[k]);
    }
  return out;
}

}  // namespace lattice::test
