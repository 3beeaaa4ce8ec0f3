#pragma once
// Shared by the gpu tests: one Context for the whole binary (made lazily, after the validation layer was
// requested), a fixture that fails any test during which the layer reported an error, and comparison of a
// GPU result with a plain C++ reference.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gpu/context.h"

namespace lattice::gpu::testing {

/// The process-wide Context (validation on: gpu_test_env.cpp sets LATTICE_VULKAN_VALIDATION=1).
Context& context();

class GpuTest : public ::testing::Test {
 protected:
  Context& ctx() { return context(); }
  void SetUp() override { errors_before_ = context().instance().validation_errors(); }
  void TearDown() override {
    EXPECT_EQ(context().instance().validation_errors(), errors_before_)
        << "Vulkan validation errors during this test (messages on stderr)";
  }

 private:
  uint64_t errors_before_ = 0;
};

/// Deterministic uniform values in [lo, hi).
std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

/// Fails (with the first offending index) unless `got` matches `want` in size, has no NaN/Inf where `want`
/// is finite, and its normalised MSE sum((g-w)^2)/sum(w^2) is at most `max_nmse`.
::testing::AssertionResult close_nmse(const std::vector<float>& got, const std::vector<float>& want, double max_nmse);
/// Same checks, but every element within |g-w| <= atol + rtol*|w|.
::testing::AssertionResult close_elementwise(const std::vector<float>& got, const std::vector<float>& want,
                                             double rtol, double atol);

}  // namespace lattice::gpu::testing
