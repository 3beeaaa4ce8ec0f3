#pragma once
// The project tolerance for an output tensor against its reference (BRIEF, tests/golden/README.md): every value
// finite and the f32 max abs error <= 1e-4 * max(1, max|reference|) over the tensor. One definition for every
// test that compares with a reference: EXPECT_TRUE(test::within_tolerance(got, want)) << what;
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

namespace lattice::test {

inline ::testing::AssertionResult within_tolerance(std::span<const float> got, std::span<const float> reference) {
  if (got.size() != reference.size())
    return ::testing::AssertionFailure() << got.size() << " values, the reference has " << reference.size();
  float err = 0, max_ref = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return ::testing::AssertionFailure() << "value " << i << " is " << got[i];
    max_ref = std::max(max_ref, std::fabs(reference[i]));
    const float d = std::fabs(got[i] - reference[i]);
    if (d > err) err = d, at = i;
  }
  const float tolerance = 1e-4f * std::max(1.0f, max_ref);
  if (err <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max abs error " << err << " at " << at << " (" << got[at] << ", reference " << reference[at]
                                       << ") exceeds " << tolerance << " = 1e-4 * max(1, max|reference| = " << max_ref << ")";
}

}  // namespace lattice::test
