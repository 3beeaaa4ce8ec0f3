#pragma once
/// CommandStream: ops record into it; the caller decides when the batch is submitted.
///
/// Contract. One stream per thread (not thread-safe); many streams may share a Context. Ops record
/// dispatches with dispatch(); nothing reaches the GPU until submit() (or finish()), so a model forward is
/// a handful of submissions, with no host round trip inside a batch. Between any two recorded commands a
/// full compute/transfer memory barrier is inserted: conservative but always correct; ops need not track
/// hazards. submit() signals the stream's timeline semaphore and returns that value; wait(value) blocks
/// until the GPU reached it. Buffers bound by a dispatch are kept alive by the stream until the
/// submission that used them completes, so a temporary Tensor may be dropped right after recording.
/// Destruction waits for everything submitted; recorded but unsubmitted work is discarded. Device loss and
/// out-of-memory surface as DeviceError from submit()/wait().
/// Profiling: when LATTICE_GPU_PROFILE is set (gpu/profile.h), every command is followed by a timestamp
/// query and its device time is added to the profile when its batch is reclaimed.

#include <vulkan/vulkan.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace lattice::gpu {

class Buffer;
class Context;
struct Pipeline;

/// One descriptor for a dispatch: a whole buffer, as storage buffer, or as uniform texel buffer of
/// `texel_format` when the kernel's binding is UniformTexel (through the buffer's own cached view,
/// Buffer::texel_view, so a dispatch creates no Vulkan objects).
struct Arg {
  std::shared_ptr<Buffer> buffer;
  VkFormat texel_format = VK_FORMAT_UNDEFINED;
};

class CommandStream {
 public:
  explicit CommandStream(Context& context);
  ~CommandStream();
  CommandStream(const CommandStream&) = delete;
  CommandStream& operator=(const CommandStream&) = delete;

  Context& context() const { return context_; }

  /// Records a compute dispatch of `groups` workgroups. `push` must be pipeline.kernel->push_constant_bytes.
  void dispatch(const Pipeline& pipeline, std::span<const Arg> args, const void* push, uint32_t push_bytes,
                uint32_t groups_x, uint32_t groups_y = 1, uint32_t groups_z = 1);
  /// Records a buffer-to-buffer copy.
  void copy(const std::shared_ptr<Buffer>& src, uint64_t src_offset, const std::shared_ptr<Buffer>& dst,
            uint64_t dst_offset, uint64_t bytes);
  /// Submits what was recorded; returns the timeline value that marks its completion (the last one if
  /// nothing was recorded).
  uint64_t submit();
  /// Blocks until the submission returning `value` has completed.
  void wait(uint64_t value);
  /// submit() then wait().
  void finish();
  /// Commands recorded since the last submit.
  uint32_t recorded() const { return recorded_; }
  /// Whether this stream times its commands (LATTICE_GPU_PROFILE); ops build labels only then.
  bool profiling() const { return profiling_; }
  /// Names the next dispatch or copy in the profile (default: the kernel's name). Ignored unless profiling.
  void label(std::string text);

 private:
  struct Batch {
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    uint64_t value = 0;
    std::vector<std::shared_ptr<Buffer>> keep;  // also keeps their texel views (Buffer::texel_view) alive
    // Profiling only: timestamp query q lives in pools[q / kQueriesPerPool]; query 0 marks the batch's start,
    // query i + 1 the end of command i, named labels[i].
    std::vector<VkQueryPool> pools;
    uint32_t queries = 0;
    std::vector<std::string> labels;
  };
  static constexpr uint32_t kQueriesPerPool = 256;
  void begin_if_needed();
  void barrier();
  void reclaim(uint64_t completed);
  void stamp();
  void end_command(const char* kernel_name);
  void collect_profile(Batch& b);  // adds a completed batch's times to gpu/profile.h, returns its pools


  Context& context_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkSemaphore timeline_ = VK_NULL_HANDLE;
  uint64_t submitted_ = 0;
  Batch current_;
  uint32_t recorded_ = 0;
  std::deque<Batch> in_flight_;
  std::vector<VkCommandBuffer> free_cmds_;
  bool profiling_ = false;
  double timestamp_ns_ = 1;  // nanoseconds per timestamp tick
  std::string next_label_;
  std::vector<VkQueryPool> free_pools_;
};

}  // namespace lattice::gpu
