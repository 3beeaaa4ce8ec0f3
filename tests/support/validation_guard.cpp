// Linked into every test binary that reaches the GPU without owning a Context (node, model and app tests go
// through the process-wide GPU service): validation is requested before anything makes an Instance, and a
// test during which the Khronos layer reported an error fails, naming the test. (tests/gpu has its own
// fixture, GpuTest, for the same rule.)
//
// GoogleTest lets no listener fail a finished test, so a listener notes which tests raised the process's
// error count and a global environment's TearDown fails the run with their names. ctest runs every test
// on its own (gtest_discover_tests), so there the failing test is the one that caused the errors.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "gpu/instance.h"

namespace {

// Before main(): the GPU service reads the variable when it first makes its Instance. An explicit setting
// (e.g. 0, to time a test without the layer) is kept.
const bool g_validation_requested = [] {
  setenv("LATTICE_VULKAN_VALIDATION", "1", 0);
  return true;
}();

std::vector<std::string>& offenders() {
  static std::vector<std::string> names;
  return names;
}

class ValidationListener : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override {
    before_ = lattice::gpu::Instance::process_validation_errors();
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    uint64_t now = lattice::gpu::Instance::process_validation_errors();
    if (now != before_)
      offenders().push_back(std::string(info.test_suite_name()) + "." + info.name() + " (" +
                            std::to_string(now - before_) + ")");
  }
  uint64_t before_ = 0;
};

class ValidationEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { ::testing::UnitTest::GetInstance()->listeners().Append(new ValidationListener); }
  void TearDown() override {
    if (offenders().empty()) return;
    std::string names;
    for (const std::string& n : offenders()) names += "\n  " + n;
    ADD_FAILURE() << "Vulkan validation errors (messages on stderr) during:" << names;
  }
};

[[maybe_unused]] ::testing::Environment* const g_env =
    ::testing::AddGlobalTestEnvironment(new ValidationEnvironment);

}  // namespace
