#include "core/block_stream_plan.h"

#include <algorithm>

namespace lattice {

BlockStreamPlan plan_block_streaming(const std::vector<uint64_t>& block_bytes, uint64_t available) {
  BlockStreamPlan p;
  p.blocks = static_cast<int>(block_bytes.size());
  uint64_t total = 0;
  for (uint64_t b : block_bytes) total += b;
  if (total <= available) {
    p.resident = p.blocks;
    p.resident_bytes = total;
    return p;
  }
  for (int slots : {2, 1}) {
    // r from the most resident blocks down: the first that fits beside the slots wins.
    uint64_t resident = total;
    for (int r = p.blocks - 1; r >= 0; --r) {
      resident -= block_bytes[static_cast<size_t>(r)];
      uint64_t slot = 0;
      for (int i = r; i < p.blocks; ++i) slot = std::max(slot, block_bytes[static_cast<size_t>(i)]);
      if (resident + slot * static_cast<uint64_t>(slots) <= available) {
        p.resident = r;
        p.slots = slots;
        p.resident_bytes = resident;
        p.streamed_bytes = total - resident;
        p.slot_bytes = slot;
        return p;
      }
    }
  }
  p.fits = false;
  p.slots = 1;
  p.streamed_bytes = total;
  p.slot_bytes = block_bytes.empty() ? 0 : *std::max_element(block_bytes.begin(), block_bytes.end());
  return p;
}

}  // namespace lattice
