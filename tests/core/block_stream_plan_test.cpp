// plan_block_streaming: which blocks stay resident and how many slots the others stream through.
#include "core/block_stream_plan.h"

#include <gtest/gtest.h>

namespace lattice {
namespace {

TEST(BlockStreamPlan, EverythingFits) {
  const BlockStreamPlan p = plan_block_streaming({10, 10, 5}, 25);
  EXPECT_TRUE(p.fits);
  EXPECT_EQ(p.resident, 3);
  EXPECT_EQ(p.slots, 0);
  EXPECT_EQ(p.resident_bytes, 25u);
  EXPECT_EQ(p.streamed_bytes, 0u);
  EXPECT_EQ(p.device_bytes(), 25u);
}

TEST(BlockStreamPlan, LeadingBlocksStayResidentBesideTwoSlots) {
  // Two big blocks then four small ones: both big ones stay beside two slots of a small one.
  const BlockStreamPlan p = plan_block_streaming({10, 10, 4, 4, 4, 4}, 28);
  EXPECT_TRUE(p.fits);
  EXPECT_EQ(p.slots, 2);
  EXPECT_EQ(p.resident, 2);
  EXPECT_EQ(p.slot_bytes, 4u);
  EXPECT_EQ(p.resident_bytes, 20u);
  EXPECT_EQ(p.streamed_bytes, 16u);
  EXPECT_EQ(p.device_bytes(), 28u);
  // One byte less: a big block streams, so the slots grow to 10 and only they fit.
  const BlockStreamPlan q = plan_block_streaming({10, 10, 4, 4, 4, 4}, 27);
  EXPECT_EQ(q.slots, 2);
  EXPECT_EQ(q.resident, 0);
  EXPECT_EQ(q.slot_bytes, 10u);
  EXPECT_EQ(q.streamed_bytes, 36u);
}

TEST(BlockStreamPlan, OneSlotWhenTwoDoNotFit) {
  const BlockStreamPlan p = plan_block_streaming({10, 10, 10}, 15);
  EXPECT_TRUE(p.fits);
  EXPECT_EQ(p.slots, 1);
  EXPECT_EQ(p.resident, 0);
  EXPECT_EQ(p.slot_bytes, 10u);
  EXPECT_EQ(p.streamed_bytes, 30u);
  EXPECT_LE(p.device_bytes(), 15u);
}

TEST(BlockStreamPlan, TooSmallForOneBlock) {
  const BlockStreamPlan p = plan_block_streaming({10, 12, 4}, 11);
  EXPECT_FALSE(p.fits);
  EXPECT_EQ(p.slot_bytes, 12u);  // the need: the largest block
}

}  // namespace
}  // namespace lattice
