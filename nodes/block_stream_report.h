#pragma once
/// What a DiT sampling node reports about block streaming (nodes/models/block_streamer.h), under the same
/// keys for every model so that the CLI can compare a run with its --dry-run plan: the blocks, those that
/// stayed resident, the slots, the bytes uploaded on each forward and during this evaluation, the forwards
/// run, and the device's high-water mark. Construct it before sampling (it notes the counters then) and
/// call it after.

#include "core/eval_context.h"
#include "gpu/context.h"
#include "nodes/models/block_streamer.h"

namespace lattice {

class BlockStreamReport {
 public:
  explicit BlockStreamReport(const BlockStreamStats& stats)
      : stats_(stats), streamed_before_(stats.streamed_bytes), passes_before_(stats.passes) {}

  void operator()(EvalContext& ctx, gpu::Context& gc) const {
    ctx.report("blocks", stats_.plan.blocks);
    ctx.report("resident_blocks", stats_.plan.resident);
    ctx.report("stream_slots", stats_.plan.slots);
    ctx.report("resident_block_bytes", stats_.plan.resident_bytes);
    ctx.report("streamed_bytes_per_forward", stats_.plan.streamed_bytes);
    ctx.report("streamed_bytes", stats_.streamed_bytes - streamed_before_);
    ctx.report("forwards", stats_.passes - passes_before_);
    ctx.report("peak_device_bytes", gc.peak_device_bytes());
  }

 private:
  const BlockStreamStats& stats_;
  uint64_t streamed_before_;
  int passes_before_;
};

}  // namespace lattice
