#pragma once
// Largest absolute elementwise difference of two equally long float vectors (LTX-Video tests); infinite when
// the lengths differ or a NaN appears on either side.
#include <algorithm>
#include <cmath>
#include <vector>

namespace lattice::test {

inline float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const float d = std::fabs(a[i] - b[i]);
    if (std::isnan(d)) return INFINITY;  // a NaN on either side is never close
    m = std::max(m, d);
  }
  return a.size() == b.size() ? m : INFINITY;
}

}  // namespace lattice::test
