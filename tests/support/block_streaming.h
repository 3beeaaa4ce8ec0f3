#pragma once
// Shared pieces of the DiT block-streaming tests (nodes/models/block_streamer.h): what a sampling run
// measured, the bound its peak must respect, and random LoRA patches to stream.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "nodes/models/block_streamer.h"
#include "nodes/models/nn.h"

namespace lattice::test {

/// One sampling run on a fresh device: its output, the streamer's counters, the device bytes in use before
/// sampling, the allocator's peak, the budget, the model's activation estimate and each block's bytes; where
/// sampled through a model handle, its cache size and the model's slot bytes after sampling.
struct StreamedRun {
  std::vector<float> out;
  BlockStreamStats stats;
  uint64_t in_use = 0, peak = 0, budget = 0, activations = 0;
  uint64_t handle_bytes = 0, slot_bytes = 0;
  uint64_t overlap_bytes = 0;                // the model's activation estimate with two blocks in flight (0: none)
  int cached = 0;                            // steps whose blocks a step cache skipped
  std::vector<uint64_t> blocks;
  uint64_t total_block_bytes() const {
    uint64_t n = 0;
    for (auto x : blocks) n += x;
    return n;
  }
  uint64_t largest_block() const { return blocks.empty() ? 0 : *std::max_element(blocks.begin(), blocks.end()); }
};

/// The peak stays under the budget and under the plan: what was in use, the activations the streamer
/// reserved and its blocks. It reserved the one-block estimate, or with two blocks in flight (only where
/// every block is resident) the two-block one.
inline void expect_within_plan(const StreamedRun& r) {
  EXPECT_LE(r.peak, r.budget);
  EXPECT_LE(r.peak, r.in_use + r.stats.activation_bytes + r.stats.plan.device_bytes());
  if (r.stats.blocks_in_flight == 2) {
    EXPECT_EQ(r.stats.plan.slots, 0);
    EXPECT_EQ(r.stats.activation_bytes, r.overlap_bytes);
  } else {
    EXPECT_EQ(r.stats.blocks_in_flight, 1);
    EXPECT_EQ(r.stats.activation_bytes, r.activations);
  }
}

/// Rank-2 LoRA patches (scale 0.05, N(0, 1) factors from `seed`) on each (target weight, out, in).
inline std::shared_ptr<WeightPatches> random_lora(const std::vector<std::tuple<std::string, int64_t, int64_t>>& targets,
                                                  unsigned seed = 5) {
  auto patches = std::make_shared<WeightPatches>();
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  for (const auto& [target, out, in] : targets) {
    std::vector<float> up(static_cast<size_t>(out * 2)), down(static_cast<size_t>(2 * in));
    for (auto& x : up) x = normal(rng);
    for (auto& x : down) x = normal(rng);
    patches->push_back({target, HostTensor::from_f32({out, 2}, up), HostTensor::from_f32({2, in}, down), 0.05f});
  }
  return patches;
}

/// The streaming checks for a model of `blocks` blocks of about 2.5 MiB each, `sample(budget_mib, patches)`
/// running three sampling steps on a fresh device (budget 0: the default): resident; one to two MiB below
/// what resident needs (one block resident, the others through two slots); room for one block (one slot,
/// none resident): bit-identical outputs, three passes, the plan's uploads, peaks within the plan, the
/// handle's size counting its slots. With `patches`, only the two-slot run, against the patched resident one.
template <class Sample>
void expect_streaming_equals_resident(Sample&& sample, int blocks, std::shared_ptr<const WeightPatches> patches = {}) {
  constexpr uint64_t kMiB = 1 << 20;
  const StreamedRun resident = sample(0, patches);
  ASSERT_EQ(resident.stats.plan.blocks, blocks);
  EXPECT_EQ(resident.stats.plan.resident, blocks);
  EXPECT_EQ(resident.stats.plan.slots, 0);
  EXPECT_EQ(resident.stats.streamed_bytes, 0u);
  EXPECT_EQ(resident.slot_bytes, 0u);
  expect_within_plan(resident);
  ASSERT_GT(resident.total_block_bytes(), 8 * kMiB);  // so that MiB budgets can fall between its blocks

  const uint64_t need = resident.in_use + resident.activations + resident.total_block_bytes();
  const StreamedRun two = sample(need / kMiB - 1, patches);
  EXPECT_EQ(two.out, resident.out);  // bit for bit
  EXPECT_EQ(two.stats.plan.slots, 2);
  EXPECT_EQ(two.stats.plan.resident, 1);
  expect_within_plan(two);
  if (patches) return;
  EXPECT_EQ(two.stats.passes, 3);
  // Every pass uploads each streamed block once (the first one also before the first pass).
  EXPECT_GE(two.stats.streamed_bytes, 3 * two.stats.plan.streamed_bytes);
  EXPECT_LE(two.stats.streamed_bytes, 3 * two.stats.plan.streamed_bytes + two.stats.plan.slot_bytes);
  EXPECT_LT(two.peak, resident.peak);
  // The handle's cache size counts the slots beside the resident weights.
  EXPECT_EQ(two.slot_bytes, 2 * two.stats.plan.slot_bytes);
  EXPECT_GE(two.handle_bytes, two.stats.plan.resident_bytes + two.slot_bytes);

  const StreamedRun one = sample((resident.in_use + resident.activations + resident.largest_block() + kMiB - 1) / kMiB, patches);
  EXPECT_EQ(one.out, resident.out);
  EXPECT_EQ(one.stats.plan.slots, 1);
  EXPECT_EQ(one.stats.plan.resident, 0);
  EXPECT_GE(one.stats.streamed_bytes, 3 * one.stats.plan.streamed_bytes);
  expect_within_plan(one);
}

/// `run` throws Error(Evaluation) saying that `model`'s budget of `budget_bytes` cannot hold one block of
/// `block_bytes` and that --vram-budget raises it.
template <class Run>
void expect_budget_error(Run&& run, const std::string& model, uint64_t budget_bytes, uint64_t block_bytes) {
  try {
    run();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Evaluation);
    const std::string m = e.what();
    EXPECT_NE(m.find(model + ": the device budget of " + std::to_string(budget_bytes) + " bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("one block's weights (" + std::to_string(block_bytes) + " bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("--vram-budget"), std::string::npos) << m;
  }
}

}  // namespace lattice::test
