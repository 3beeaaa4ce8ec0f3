#pragma once
// Shared pieces of the DiT block-streaming tests (nodes/models/block_streamer.h): what a sampling run
// measured, the bound its peak must respect, and random LoRA patches to stream.
#include <gtest/gtest.h>

#include <algorithm>
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
  std::vector<uint64_t> blocks;
  uint64_t total_block_bytes() const {
    uint64_t n = 0;
    for (auto x : blocks) n += x;
    return n;
  }
  uint64_t largest_block() const { return blocks.empty() ? 0 : *std::max_element(blocks.begin(), blocks.end()); }
};

/// The peak stays under the budget and under the plan: what was in use, the activation estimate and the
/// streamer's blocks.
inline void expect_within_plan(const StreamedRun& r) {
  EXPECT_LE(r.peak, r.budget);
  EXPECT_LE(r.peak, r.in_use + r.activations + r.stats.plan.device_bytes());
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
