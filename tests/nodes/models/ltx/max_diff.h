#pragma once
// Largest absolute elementwise difference of two equally long float vectors (LTX-Video tests).
#include <algorithm>
#include <cmath>
#include <vector>

namespace lattice::test {

inline float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return a.size() == b.size() ? m : INFINITY;
}

}  // namespace lattice::test
