#pragma once
/// Dispatch profile: device time per dispatch, summed by label, from Vulkan timestamp queries. Off unless
/// the environment variable LATTICE_GPU_PROFILE is set (read once): "1" prints the report to stderr when
/// the process exits, any other value is a file path the report is written to instead.
///
/// Contract. CommandStream (gpu/command_stream.h) records a timestamp after every dispatch and copy of a
/// profiled stream and adds each command's time (from the previous timestamp to its own) here once its
/// batch has completed and is reclaimed; the label is the kernel's name unless the op named the dispatch
/// (CommandStream::label, e.g. matmul's "matmul_texel_f32 1024x768x3072"). Every command is followed by
/// a full barrier, so the times do not overlap and their sum is the device's busy time; host time spent
/// recording, submitting and waiting is not in it (compare with the wall time of the same work).
/// Thread-safe: streams on several threads may add at once.

#include <cstdint>
#include <string>

namespace lattice::gpu::profile {

/// Whether LATTICE_GPU_PROFILE is set (to anything but "" or "0"), or set_enabled(true) was called.
bool enabled();
/// Overrides the environment for streams created from now on (tests).
void set_enabled(bool on);
/// Adds one command's device time in nanoseconds under `label`.
void add(const std::string& label, double ns);
/// Forgets everything added so far (e.g. after a warm-up run).
void reset();
/// The table: per kernel (the label's first word), then per label, each sorted by total time.
std::string report();

}  // namespace lattice::gpu::profile
