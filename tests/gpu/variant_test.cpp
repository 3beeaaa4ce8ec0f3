#include "gpu/variant.h"

#include <array>

#include "gpu/error.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/kernel_variant.h"

namespace lattice::gpu {
namespace {

using testing::GpuTest;

struct Problem {
  int size;
};

bool small(const Device&, const Problem& p) { return p.size < 10; }
bool always(const Device&, const Problem&) { return true; }

// "fast" is listed first but only runs when named; "small" and "any" are chosen in list order.
const std::array<Variant<Problem>, 3> kVariants = {
    {{"fast", always, /*forced_only=*/true}, {"small", small}, {"any", always}}};

TEST_F(GpuTest, VariantChoiceSkipsForcedOnlyVariantsUnlessNamed) {
  test::ScopedKernelVariant automatic("VARIANTTEST", "");
  const Device& device = ctx().device();
  EXPECT_EQ(choose_variant<Problem>("varianttest", kVariants, device, {3}).name, "small");
  EXPECT_EQ(choose_variant<Problem>("varianttest", kVariants, device, {30}).name, "any");
  EXPECT_EQ(choose_variant<Problem>("varianttest", kVariants, device, {30}, "fast").name, "fast");
  EXPECT_THROW(choose_variant<Problem>("varianttest", kVariants, device, {30}, "small"), DeviceError);
  EXPECT_THROW(choose_variant<Problem>("varianttest", kVariants, device, {3}, "none"), DeviceError);
}

TEST_F(GpuTest, VariantChoiceTakesTheEnvironmentsForcedOnlyVariant) {
  test::ScopedKernelVariant forced("VARIANTTEST", "fast");
  EXPECT_EQ(choose_variant<Problem>("varianttest", kVariants, ctx().device(), {3}).name, "fast");
}

// A name listed twice: chosen automatically where it wins (small problems), forced for any problem.
const std::array<Variant<Problem>, 3> kTwice = {
    {{"fast", small}, {"any", always}, {"fast", always, /*forced_only=*/true}}};

TEST_F(GpuTest, VariantListedTwiceIsChosenUnderItsNarrowerPredicateAndForcedUnderItsWider) {
  test::ScopedKernelVariant automatic("VARIANTTEST", "");
  const Device& device = ctx().device();
  EXPECT_EQ(choose_variant<Problem>("varianttest", kTwice, device, {3}).name, "fast");
  EXPECT_EQ(choose_variant<Problem>("varianttest", kTwice, device, {30}).name, "any");
  EXPECT_EQ(choose_variant<Problem>("varianttest", kTwice, device, {30}, "fast").name, "fast");
  EXPECT_EQ(&choose_variant<Problem>("varianttest", kTwice, device, {30}, "fast"), &kTwice[2]);
}

}  // namespace
}  // namespace lattice::gpu
