#include "gpu/variant.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>

#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/kernel_variant.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

TEST(KernelOverride, ReadsTheEnvironmentOncePerOp) {
  setenv("LATTICE_KERNEL_OVERRIDE_TEST_A", "first", 1);
  EXPECT_EQ(kernel_override("override_test_a"), "first");
  setenv("LATTICE_KERNEL_OVERRIDE_TEST_A", "second", 1);
  EXPECT_EQ(kernel_override("override_test_a"), "first") << "the environment is read on the first call only";
  unsetenv("LATTICE_KERNEL_OVERRIDE_TEST_A");
  EXPECT_EQ(kernel_override("override_test_unset"), "");
}

TEST(KernelOverride, SetReplacesTheChoiceAndEmptyRestoresAutomatic) {
  setenv("LATTICE_KERNEL_OVERRIDE_TEST_B", "from_env", 1);
  set_kernel_override("override_test_b", "forced");
  EXPECT_EQ(kernel_override("override_test_b"), "forced");
  set_kernel_override("override_test_b", "");
  EXPECT_EQ(kernel_override("override_test_b"), "");
  unsetenv("LATTICE_KERNEL_OVERRIDE_TEST_B");
}

struct Problem {
  bool fast_ok;
};
bool fast_applies(const Device&, const Problem& p) { return p.fast_ok; }
const std::array<Variant<Problem>, 2> kVariants = {{{"fast", fast_applies}, {"slow", always<Problem>}}};

TEST_F(GpuTest, ChooseVariantTakesTheFirstThatAppliesUnlessOneIsForced) {
  const Device& d = ctx().device();
  EXPECT_EQ(choose_variant<Problem>("override_test_c", kVariants, d, Problem{true}).name, "fast");
  EXPECT_EQ(choose_variant<Problem>("override_test_c", kVariants, d, Problem{false}).name, "slow");
  set_kernel_override("override_test_c", "slow");
  EXPECT_EQ(choose_variant<Problem>("override_test_c", kVariants, d, Problem{true}).name, "slow");
  set_kernel_override("override_test_c", "fast");
  EXPECT_THROW(choose_variant<Problem>("override_test_c", kVariants, d, Problem{false}), DeviceError);
  set_kernel_override("override_test_c", "none_such");
  EXPECT_THROW(choose_variant<Problem>("override_test_c", kVariants, d, Problem{true}), DeviceError);
  set_kernel_override("override_test_c", "");
  // The `forced` argument wins over the process's choice.
  EXPECT_EQ(choose_variant<Problem>("override_test_c", kVariants, d, Problem{true}, "slow").name, "slow");
}

struct SizedProblem {
  int size;
};

bool small(const Device&, const SizedProblem& p) { return p.size < 10; }

// "fast" is listed first but only runs when named; "small" and "any" are chosen in list order.
const std::array<Variant<SizedProblem>, 3> kForcedOnly = {
    {{"fast", always<SizedProblem>, /*forced_only=*/true}, {"small", small}, {"any", always<SizedProblem>}}};

TEST_F(GpuTest, VariantChoiceSkipsForcedOnlyVariantsUnlessNamed) {
  test::ScopedKernelVariant automatic("VARIANTTEST", "");
  const Device& device = ctx().device();
  EXPECT_EQ(choose_variant<SizedProblem>("varianttest", kForcedOnly, device, {3}).name, "small");
  EXPECT_EQ(choose_variant<SizedProblem>("varianttest", kForcedOnly, device, {30}).name, "any");
  EXPECT_EQ(choose_variant<SizedProblem>("varianttest", kForcedOnly, device, {30}, "fast").name, "fast");
  EXPECT_THROW(choose_variant<SizedProblem>("varianttest", kForcedOnly, device, {30}, "small"), DeviceError);
  EXPECT_THROW(choose_variant<SizedProblem>("varianttest", kForcedOnly, device, {3}, "none"), DeviceError);
}

TEST_F(GpuTest, VariantChoiceTakesTheEnvironmentsForcedOnlyVariant) {
  test::ScopedKernelVariant forced("VARIANTTEST", "fast");
  EXPECT_EQ(choose_variant<SizedProblem>("varianttest", kForcedOnly, ctx().device(), {3}).name, "fast");
}

// A name listed twice: chosen automatically where it wins (small problems), forced for any problem.
const std::array<Variant<SizedProblem>, 3> kTwice = {
    {{"fast", small}, {"any", always<SizedProblem>}, {"fast", always<SizedProblem>, /*forced_only=*/true}}};

TEST_F(GpuTest, VariantListedTwiceIsChosenUnderItsNarrowerPredicateAndForcedUnderItsWider) {
  test::ScopedKernelVariant automatic("VARIANTTEST", "");
  const Device& device = ctx().device();
  EXPECT_EQ(choose_variant<SizedProblem>("varianttest", kTwice, device, {3}).name, "fast");
  EXPECT_EQ(choose_variant<SizedProblem>("varianttest", kTwice, device, {30}).name, "any");
  EXPECT_EQ(choose_variant<SizedProblem>("varianttest", kTwice, device, {30}, "fast").name, "fast");
  EXPECT_EQ(&choose_variant<SizedProblem>("varianttest", kTwice, device, {30}, "fast"), &kTwice[2]);
}

}  // namespace
}  // namespace lattice::gpu
