#pragma once
// A plain matrix product in double for tests that state expected weights by definition (LoRA, LoHa, LoKr).
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

}  // namespace lattice::test
