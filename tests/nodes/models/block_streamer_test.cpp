// BlockStreamer::plan_forward: the one place that decides, for FLUX, Wan and LTX-Video alike, which blocks
// stay resident and how many blocks may be in flight. Four random blocks of 1 MiB each (bf16 [1024, 512]
// linear weights) on a device whose budget is set per test: two blocks in flight only where every block is
// resident and the budget also holds the two-block activations; one where the model gives no two-block
// figure or where blocks stream; a later smaller forward keeps the plan, a larger one replans; a model
// loaded later into the same budget makes the first stream at its next forward.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "gpu/command_stream.h"
#include "nodes/gpu_service.h"
#include "nodes/models/block_streamer.h"
#include "tests/support/tiny_models.h"

namespace lattice {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMiB = 1 << 20;

class BlockStreamerPlan : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("lattice_block_streamer_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
    for (int i = 0; i < 4; ++i) shapes.push_back({"blocks." + std::to_string(i) + ".proj.weight", {1024, 512}});
    test::write_random_checkpoint(dir, shapes, {{"_class_name", "Test"}}, 1);
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  // A device with `budget_mib`, the checkpoint's weights and a streamer over its four blocks.
  struct Setup {
    explicit Setup(uint64_t budget_mib) {
      setenv("LATTICE_GPU_BUDGET_MB", std::to_string(budget_mib).c_str(), 1);
      gpu = std::make_unique<GpuService>();
      gpu->context();
      unsetenv("LATTICE_GPU_BUDGET_MB");
      source = std::make_unique<WeightSource>(WeightSource::open(dir));
      weights = std::make_unique<DeviceWeights>(*source, gpu->context());
      streamer = std::make_unique<BlockStreamer>(*weights, std::vector<std::string>{"blocks.0.", "blocks.1.", "blocks.2.", "blocks.3."});
      in_use = gpu->context().allocator().current_device_bytes();
    }
    std::unique_ptr<GpuService> gpu;
    std::unique_ptr<WeightSource> source;
    std::unique_ptr<DeviceWeights> weights;
    std::unique_ptr<BlockStreamer> streamer;
    uint64_t in_use = 0;
  };

  static inline fs::path dir;
};

TEST_F(BlockStreamerPlan, TwoBlocksInFlightOnlyWhereTheBudgetHoldsTheirActivations) {
  {
    // 4 MiB of blocks + 2 MiB of two-block activations fit 8 MiB beside what is in use.
    Setup s(8);
    ASSERT_EQ(s.streamer->block_bytes()[0], kMiB);
    ASSERT_LT(s.in_use, kMiB / 4);
    EXPECT_EQ(s.streamer->plan_forward(kMiB, "test", 2 * kMiB), 2 * kMiB);
    EXPECT_EQ(s.streamer->stats().plan.slots, 0);
    EXPECT_EQ(s.streamer->stats().blocks_in_flight, 2);
    EXPECT_EQ(s.streamer->stats().activation_bytes, 2 * kMiB);
  }
  {
    // Every block resident beside one block's activations, not beside two blocks' (4 + 5 > 8).
    Setup s(8);
    EXPECT_EQ(s.streamer->plan_forward(kMiB, "test", 5 * kMiB), kMiB);
    EXPECT_EQ(s.streamer->stats().plan.slots, 0);
    EXPECT_EQ(s.streamer->stats().blocks_in_flight, 1);
  }
  {
    // No two-block figure (Wan, LTX-Video): one block in flight whatever the room.
    Setup s(64);
    EXPECT_EQ(s.streamer->plan_forward(kMiB, "test"), kMiB);
    EXPECT_EQ(s.streamer->stats().plan.slots, 0);
    EXPECT_EQ(s.streamer->stats().blocks_in_flight, 1);
    EXPECT_EQ(s.streamer->stats().activation_bytes, kMiB);
  }
  {
    // Blocks stream: they always wait, even where the two-block activations would fit beside the plan.
    Setup s(4);
    EXPECT_EQ(s.streamer->plan_forward(kMiB / 2, "test", kMiB / 2 + 1), kMiB / 2);
    EXPECT_GT(s.streamer->stats().plan.slots, 0);
    EXPECT_EQ(s.streamer->stats().blocks_in_flight, 1);
  }
}

TEST_F(BlockStreamerPlan, LargerActivationsReplanSmallerOnesKeepThePlan) {
  Setup s(8);
  EXPECT_EQ(s.streamer->plan_forward(kMiB, "test", 2 * kMiB), 2 * kMiB);
  EXPECT_EQ(s.streamer->stats().plan.resident, 4);
  // Smaller: nothing changes (the larger reservation stays).
  EXPECT_EQ(s.streamer->plan_forward(kMiB / 2, "test", kMiB), 2 * kMiB);
  EXPECT_EQ(s.streamer->stats().blocks_in_flight, 2);
  // Larger two-block activations that no longer fit: one block in flight, every block still resident.
  EXPECT_EQ(s.streamer->plan_forward(kMiB, "test", 5 * kMiB), kMiB);
  EXPECT_EQ(s.streamer->stats().blocks_in_flight, 1);
  EXPECT_EQ(s.streamer->stats().plan.resident, 4);
  // Larger one-block activations that leave less than the blocks: fewer blocks resident, the others
  // streamed through slots.
  const uint64_t act = 4 * kMiB + kMiB / 4;
  EXPECT_EQ(s.streamer->plan_forward(act, "test", 5 * kMiB), act);
  EXPECT_LT(s.streamer->stats().plan.resident, 4);
  EXPECT_GT(s.streamer->stats().plan.slots, 0);
  EXPECT_EQ(s.streamer->stats().blocks_in_flight, 1);
  EXPECT_LE(s.in_use + act + s.streamer->stats().plan.device_bytes(), 8 * kMiB);
}

TEST_F(BlockStreamerPlan, AModelLoadedLaterMakesTheFirstStreamAtItsNextForward) {
  // The first model plans with the budget to itself: every block resident, two in flight.
  Setup s(8);
  EXPECT_EQ(s.streamer->plan_forward(kMiB, "test", 2 * kMiB), 2 * kMiB);
  EXPECT_EQ(s.streamer->stats().plan.resident, 4);
  EXPECT_EQ(s.streamer->stats().blocks_in_flight, 2);
  // A second model's weights (4 MiB) take the device beside it: 4 + 4 + 1 > 8.
  DeviceWeights second(*s.source, s.gpu->context());
  for (int i = 0; i < 4; ++i) second.matrix("blocks." + std::to_string(i) + ".proj.weight");
  const gpu::Allocator& a = s.gpu->context().allocator();
  ASSERT_EQ(a.current_device_bytes(), s.in_use + 8 * kMiB);
  // The next forward streams instead of running out of the budget: fewer blocks resident, through slots,
  // one block in flight, and everything within the budget.
  EXPECT_EQ(s.streamer->plan_forward(kMiB, "test", 2 * kMiB), kMiB);
  EXPECT_LT(s.streamer->stats().plan.resident, 4);
  EXPECT_GT(s.streamer->stats().plan.slots, 0);
  EXPECT_EQ(s.streamer->stats().blocks_in_flight, 1);
  EXPECT_LE(a.current_device_bytes() + kMiB, 8 * kMiB);
  EXPECT_LE(s.in_use + 4 * kMiB + kMiB + s.streamer->stats().plan.device_bytes(), 8 * kMiB);
  // It runs: every block acquired in turn under the budget.
  gpu::CommandStream stream(s.gpu->context());
  for (int i = 0; i < s.streamer->size(); ++i) {
    s.streamer->acquire(stream, i);
    s.streamer->release(stream, i);
  }
  stream.finish();
  EXPECT_LE(a.current_device_bytes() + kMiB, 8 * kMiB);
  EXPECT_GT(s.streamer->stats().uploads, 0);
}

}  // namespace
}  // namespace lattice
