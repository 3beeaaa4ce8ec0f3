#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>

#include "tests/gpu/gpu_test.h"

namespace lattice::gpu::testing {
namespace {

std::unique_ptr<Context> g_context;

// Runs before main(): the Context (and so the Instance) must see the variable when it is first made.
const bool g_validation_requested = [] {
  setenv("LATTICE_VULKAN_VALIDATION", "1", 1);
  return true;
}();

class GpuEnvironment : public ::testing::Environment {
 public:
  // Destroyed here, before static destructors, so the Vulkan loader is still intact.
  void TearDown() override { g_context.reset(); }
};

[[maybe_unused]] ::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new GpuEnvironment);

::testing::AssertionResult check_common(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << ", want " << want.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (std::isfinite(want[i]) && !std::isfinite(got[i]))
      return ::testing::AssertionFailure() << "non-finite " << got[i] << " at " << i << ", want " << want[i];
  return ::testing::AssertionSuccess();
}

}  // namespace

Context& context() {
  if (!g_context) g_context = std::make_unique<Context>();
  return *g_context;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

::testing::AssertionResult close_nmse(const std::vector<float>& got, const std::vector<float>& want, double max_nmse) {
  if (auto r = check_common(got, want); !r) return r;
  double err = 0, ref = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double d = static_cast<double>(got[i]) - want[i];
    err += d * d;
    ref += static_cast<double>(want[i]) * want[i];
  }
  double nmse = ref > 0 ? err / ref : err;
  if (nmse <= max_nmse) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "normalised MSE " << nmse << " > " << max_nmse;
}

::testing::AssertionResult close_elementwise(const std::vector<float>& got, const std::vector<float>& want,
                                             double rtol, double atol) {
  if (auto r = check_common(got, want); !r) return r;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(want[i])) {
      bool same = std::isnan(want[i]) ? std::isnan(got[i]) : got[i] == want[i];
      if (!same) return ::testing::AssertionFailure() << "at " << i << ": " << got[i] << ", want " << want[i];
      continue;
    }
    double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (d > atol + rtol * std::fabs(want[i]))
      return ::testing::AssertionFailure() << "at " << i << ": " << got[i] << ", want " << want[i] << " (|diff| " << d
                                           << ")";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace lattice::gpu::testing
