#pragma once
/// Block streaming arithmetic, shared by the run (nodes/models/block_streamer.h) and the --dry-run memory
/// plan (app/render_command.cpp), so that both choose the same blocks: given the device bytes of each of a
/// model's repeated blocks and the bytes left for them, which leading blocks stay resident and how many
/// slots (the largest streamed block each) the others stream through. Two slots when they fit (one block
/// runs while the next uploads), else one; among those, as many resident blocks as fit.

#include <cstdint>
#include <vector>

namespace lattice {

struct BlockStreamPlan {
  int blocks = 0, resident = 0, slots = 0;  ///< slots 0: everything resident
  uint64_t resident_bytes = 0;              ///< bytes of the resident blocks
  uint64_t streamed_bytes = 0;              ///< bytes uploaded on every pass (the streamed blocks)
  uint64_t slot_bytes = 0;                  ///< bytes of one slot (the largest streamed block)
  bool fits = true;                         ///< false: not even one slot fits (then resident 0, slots 1)
  uint64_t device_bytes() const { return resident_bytes + slot_bytes * static_cast<uint64_t>(slots); }
};

BlockStreamPlan plan_block_streaming(const std::vector<uint64_t>& block_bytes, uint64_t available);

}  // namespace lattice
