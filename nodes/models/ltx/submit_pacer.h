#pragma once
/// Bounds the device memory of a long recorded forward. A CommandStream keeps every buffer its dispatches
/// bound alive until the submission that used them completes and is waited for, so a video-sized model
/// recorded as one batch would hold all of its intermediates at once. Calling the pacer after each block
/// submits that block and waits for the one before it: at most two blocks' temporaries are alive, and the
/// host still records block i+1 while the device runs block i.

#include <cstdint>

#include "gpu/command_stream.h"

namespace lattice {

class SubmitPacer {
 public:
  void operator()(gpu::CommandStream& s) {
    const uint64_t v = s.submit();
    if (last_) s.wait(last_);
    last_ = v;
  }

 private:
  uint64_t last_ = 0;
};

}  // namespace lattice
