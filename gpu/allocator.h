#pragma once
/// Allocator: buffers sub-allocated from large VkDeviceMemory blocks.
///
/// Contract. Owned by the Context; outlives every Buffer it made (Buffers are shared_ptr and return their
/// range on destruction). All methods are thread-safe (one lock). Submits no work.
///
/// Rules.
/// - Two kinds: DeviceLocal (tensors) and HostVisible (staging; persistently mapped, coherent, cached when
///   the device offers it). Each memory type has its own pool of blocks.
/// - Blocks are block_bytes (default 256 MiB, capped at maxMemoryAllocationSize). A request larger than a
///   quarter of a block gets its own dedicated VkDeviceMemory, freed with the buffer, so big weights do not
///   fragment the pools.
/// - Within a block: first fit over a free list ordered by offset, each range aligned to the buffer's
///   VkMemoryRequirements::alignment. Freeing merges with both neighbours. A block that becomes empty is
///   returned to the driver unless it is the pool's only block (kept to avoid churn between batches).
/// - One buffer is at most Device::max_buffer_bytes() = min(maxStorageBufferRange, maxMemoryAllocationSize)
///   (128 MiB on lavapipe): ops bind whole buffers, so a larger tensor is refused with
///   Failure::Unsupported naming the sizes; models split such tensors themselves (weights into row blocks,
///   row-wise layers into row chunks: nodes/models/nn.h; VAE decoding into tiles).
/// - Budget: DeviceLocal bytes in live buffers may not exceed budget_bytes() (80% of the largest
///   device-local heap, or LATTICE_GPU_BUDGET_MB, in MiB, fractions allowed); a request that would is refused with
///   Failure::OutOfMemory before Vulkan is asked, so out-of-memory is an error, never a crash. Before
///   refusing, the reclaimer (set_reclaimer) is asked to free what is missing: the device service spills
///   the result cache's least recently used device values to host memory (core/cache.h). It is called
///   without the allocator's lock held and never re-entered from its own allocations; the request is
///   retried while it frees something.

#include <vulkan/vulkan.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace lattice::gpu {

class Device;
class Allocator;

enum class MemoryKind { DeviceLocal, HostVisible };

/// One VkBuffer bound to its own range of device memory.
class Buffer {
 public:
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  VkBuffer handle() const { return buffer_; }
  uint64_t size() const { return size_; }
  MemoryKind kind() const { return kind_; }
  /// Host pointer for HostVisible buffers, nullptr otherwise.
  void* mapped() const { return mapped_; }
  /// A view of the whole buffer (offset 0, VK_WHOLE_SIZE) as uniform texel buffer of `format`, created on first
  /// request and kept, one per format, until the buffer is destroyed (ops bind whole buffers, so the format is
  /// the whole key). Safe across command buffers in flight: a CommandStream keeps every buffer it bound alive
  /// until the submission completes, and the view dies with the buffer. The caller checks that the format
  /// supports uniform texel buffers and that size() / texel bytes <= maxTexelBufferElements. Thread-safe.
  VkBufferView texel_view(VkFormat format);

 private:
  friend class Allocator;
  Buffer() = default;
  Allocator* owner_ = nullptr;
  std::mutex views_mutex_;
  std::vector<std::pair<VkFormat, VkBufferView>> views_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  uint64_t size_ = 0;
  MemoryKind kind_ = MemoryKind::DeviceLocal;
  void* mapped_ = nullptr;
  // Where the memory came from: a block's range, or a dedicated allocation when block_ < 0.
  uint32_t memory_type_ = 0;
  int64_t block_ = -1;
  uint64_t offset_ = 0;
  uint64_t reserved_ = 0;
  VkDeviceMemory dedicated_ = VK_NULL_HANDLE;
};

class Allocator {
 public:
  static constexpr uint64_t kDefaultBlockBytes = 256ull << 20;
  explicit Allocator(const Device& device, uint64_t block_bytes = kDefaultBlockBytes);
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  /// A buffer of `bytes` (> 0) usable as storage buffer, uniform texel buffer and copy source/target.
  std::shared_ptr<Buffer> create_buffer(uint64_t bytes, MemoryKind kind);

  uint64_t current_device_bytes() const;  ///< DeviceLocal bytes in live buffers
  uint64_t peak_device_bytes() const;     ///< high-water mark of current_device_bytes()
  void reset_peak();
  uint64_t current_host_bytes() const;  ///< HostVisible bytes in live buffers
  uint64_t reserved_bytes() const;      ///< VkDeviceMemory held: blocks plus dedicated allocations
  uint64_t budget_bytes() const;
  /// Overrides the budget (tests; otherwise it comes from the heaps or LATTICE_GPU_BUDGET_MB).
  void set_budget(uint64_t bytes);
  /// Frees device-local memory on request: given the bytes missing, returns the bytes it freed.
  using Reclaimer = std::function<uint64_t(uint64_t needed)>;
  void set_reclaimer(Reclaimer reclaimer);
  uint64_t block_bytes() const { return block_bytes_; }
  size_t block_count() const;

 private:
  friend class Buffer;
  struct Block {
    VkDeviceMemory memory = VK_NULL_HANDLE;
    uint64_t size = 0;
    void* mapped = nullptr;
    std::map<uint64_t, uint64_t> free;  // offset -> size, never adjacent (merged on free)
  };
  struct Pool {
    std::vector<std::unique_ptr<Block>> blocks;  // nullptr entries are released blocks (indices stay stable)
  };
  uint32_t pick_memory_type(uint32_t type_bits, MemoryKind kind) const;
  VkDeviceMemory allocate_memory(uint64_t bytes, uint32_t type, void** mapped);
  void release(Buffer& buffer);

  const Device& device_;
  uint64_t block_bytes_;
  uint64_t budget_ = 0;
  mutable std::recursive_mutex mutex_;
  std::map<uint32_t, Pool> pools_;  // by memory type index
  Reclaimer reclaimer_;
  uint64_t device_bytes_ = 0, peak_device_bytes_ = 0, host_bytes_ = 0, reserved_ = 0;
};

}  // namespace lattice::gpu
