#include "gpu/allocator.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "gpu/device.h"
#include "gpu/error.h"

namespace lattice::gpu {

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Set while this thread runs a reclaimer: its own allocations (a download's staging) must not recurse.
static thread_local bool t_reclaiming = false;

Buffer::~Buffer() {
  if (owner_ != nullptr) owner_->release(*this);
}

VkBufferView Buffer::texel_view(VkFormat format) {
  std::lock_guard lock(views_mutex_);
  for (const auto& [f, view] : views_)
    if (f == format) return view;
  VkBufferViewCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO};
  info.buffer = buffer_;
  info.format = format;
  info.range = VK_WHOLE_SIZE;
  VkBufferView view = VK_NULL_HANDLE;
  LATTICE_VK_CHECK(vkCreateBufferView(owner_->device_.handle(), &info, nullptr, &view));
  views_.emplace_back(format, view);
  return view;
}

Allocator::Allocator(const Device& device, uint64_t block_bytes)
    : device_(device), block_bytes_(std::min(block_bytes, device.info().max_memory_allocation_size)) {
  uint64_t largest = 0;
  for (const auto& h : device.info().heaps)
    if (h.device_local) largest = std::max(largest, h.size);
  budget_ = largest / 10 * 8;
  // MiB, fractions allowed (--vram-budget passes a budget in GiB through it to the byte).
  if (const char* env = std::getenv("LATTICE_GPU_BUDGET_MB")) {
    char* end = nullptr;
    const double mib = std::strtod(env, &end);
    if (end == env || *end != '\0' || !std::isfinite(mib) || mib <= 0 || mib >= 1.7e13)
      throw lattice::Error(lattice::ErrorKind::Usage, std::string("LATTICE_GPU_BUDGET_MB must be a positive number of MiB, got '") +
                                        env + "'");
    budget_ = static_cast<uint64_t>(mib * 1048576.0);
  }
}

Allocator::~Allocator() {
  for (auto& [type, pool] : pools_)
    for (auto& block : pool.blocks)
      if (block) vkFreeMemory(device_.handle(), block->memory, nullptr);
}

uint32_t Allocator::pick_memory_type(uint32_t type_bits, MemoryKind kind) const {
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(device_.physical(), &mem);
  VkMemoryPropertyFlags required = kind == MemoryKind::HostVisible
                                       ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
                                       : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  VkMemoryPropertyFlags preferred =
      kind == MemoryKind::HostVisible ? required | VK_MEMORY_PROPERTY_HOST_CACHED_BIT : required;
  for (VkMemoryPropertyFlags want : {preferred, required})
    for (uint32_t i = 0; i < mem.memoryTypeCount; ++i)
      if ((type_bits & (1u << i)) && (mem.memoryTypes[i].propertyFlags & want) == want) return i;
  throw_unsupported(std::string("no ") + (kind == MemoryKind::HostVisible ? "host-visible" : "device-local") +
                    " memory type for a buffer on '" + device_.info().name + "'");
}

VkDeviceMemory Allocator::allocate_memory(uint64_t bytes, uint32_t type, void** mapped) {
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  info.allocationSize = bytes;
  info.memoryTypeIndex = type;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  LATTICE_VK_CHECK(vkAllocateMemory(device_.handle(), &info, nullptr, &memory));
  *mapped = nullptr;
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(device_.physical(), &mem);
  if (mem.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
    VkResult r = vkMapMemory(device_.handle(), memory, 0, VK_WHOLE_SIZE, 0, mapped);
    if (r != VK_SUCCESS) {
      vkFreeMemory(device_.handle(), memory, nullptr);
      throw_vk(r, "vkMapMemory", __FILE__, __LINE__);
    }
  }
  reserved_ += bytes;
  return memory;
}

std::shared_ptr<Buffer> Allocator::create_buffer(uint64_t bytes, MemoryKind kind) {
  if (bytes == 0) bytes = 4;  // Vulkan forbids empty buffers; an empty tensor still gets a handle
  if (bytes > device_.max_buffer_bytes())
    throw_unsupported("a buffer of " + std::to_string(bytes) + " bytes exceeds the largest one '" +
                      device_.info().name + "' can bind (" + std::to_string(device_.max_buffer_bytes()) +
                      " bytes); split the tensor");
  std::unique_lock<std::recursive_mutex> lock(mutex_);
  uint64_t reclaimed = 0;
  while (kind == MemoryKind::DeviceLocal && device_bytes_ + bytes > budget_) {
    const uint64_t needed = device_bytes_ + bytes - budget_;
    const Reclaimer reclaimer = t_reclaiming ? Reclaimer{} : reclaimer_;
    uint64_t freed = 0;
    if (reclaimer) {
      lock.unlock();
      t_reclaiming = true;
      try {
        freed = reclaimer(needed);
      } catch (...) {
        t_reclaiming = false;
        throw;
      }
      t_reclaiming = false;
      lock.lock();
      reclaimed += freed;
    }
    if (freed == 0)
      throw DeviceError(Failure::OutOfMemory,
                        "GPU memory budget exceeded: " + std::to_string(device_bytes_) + " bytes in use + " +
                            std::to_string(bytes) + " requested > " + std::to_string(budget_) + " budget on '" +
                            device_.info().name + "'" +
                            (reclaimer ? " (after spilling " + std::to_string(reclaimed) + " bytes of cached values to host memory)"
                                       : std::string()));
  }

  std::shared_ptr<Buffer> buf(new Buffer());
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = bytes;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
               VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  LATTICE_VK_CHECK(vkCreateBuffer(device_.handle(), &info, nullptr, &buf->buffer_));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device_.handle(), buf->buffer_, &req);
  buf->size_ = bytes;
  buf->kind_ = kind;
  try {
    buf->memory_type_ = pick_memory_type(req.memoryTypeBits, kind);
  } catch (...) {
    vkDestroyBuffer(device_.handle(), buf->buffer_, nullptr);
    throw;
  }

  VkDeviceMemory memory = VK_NULL_HANDLE;
  uint64_t offset = 0;
  void* base = nullptr;
  if (req.size > block_bytes_ / 4) {
    try {
      buf->dedicated_ = allocate_memory(req.size, buf->memory_type_, &base);
    } catch (...) {
      vkDestroyBuffer(device_.handle(), buf->buffer_, nullptr);
      throw;
    }
    buf->reserved_ = req.size;
    memory = buf->dedicated_;
  } else {
    Pool& pool = pools_[buf->memory_type_];
    for (size_t b = 0; b < pool.blocks.size() && memory == VK_NULL_HANDLE; ++b) {
      Block* block = pool.blocks[b].get();
      if (!block) continue;
      for (auto it = block->free.begin(); it != block->free.end(); ++it) {
        uint64_t start = align_up(it->first, req.alignment);
        uint64_t end = it->first + it->second;
        if (start + req.size > end) continue;
        uint64_t head = start - it->first, tail = end - (start + req.size);
        uint64_t head_offset = it->first;
        block->free.erase(it);
        if (head) block->free[head_offset] = head;
        if (tail) block->free[start + req.size] = tail;
        buf->block_ = static_cast<int64_t>(b);
        buf->offset_ = start;
        buf->reserved_ = req.size;
        memory = block->memory;
        base = block->mapped;
        offset = start;
        break;
      }
    }
    if (memory == VK_NULL_HANDLE) {
      auto block = std::make_unique<Block>();
      block->size = block_bytes_;
      try {
        block->memory = allocate_memory(block_bytes_, buf->memory_type_, &block->mapped);
      } catch (...) {
        vkDestroyBuffer(device_.handle(), buf->buffer_, nullptr);
        throw;
      }
      if (req.size < block_bytes_) block->free[req.size] = block_bytes_ - req.size;
      memory = block->memory;
      base = block->mapped;
      auto slot = std::find(pool.blocks.begin(), pool.blocks.end(), nullptr);
      if (slot == pool.blocks.end()) slot = pool.blocks.insert(slot, nullptr);
      buf->block_ = slot - pool.blocks.begin();
      *slot = std::move(block);
      buf->offset_ = 0;
      buf->reserved_ = req.size;
    }
  }
  buf->owner_ = this;
  if (base) buf->mapped_ = static_cast<char*>(base) + offset;
  if (kind == MemoryKind::DeviceLocal) {
    device_bytes_ += bytes;
    peak_device_bytes_ = std::max(peak_device_bytes_, device_bytes_);
  } else {
    host_bytes_ += bytes;
  }
  // A failed bind unwinds through ~Buffer -> release(), which re-locks: hence the recursive mutex.
  LATTICE_VK_CHECK(vkBindBufferMemory(device_.handle(), buf->buffer_, memory, offset));
  return buf;
}

void Allocator::release(Buffer& b) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  for (const auto& [format, view] : b.views_) vkDestroyBufferView(device_.handle(), view, nullptr);
  vkDestroyBuffer(device_.handle(), b.buffer_, nullptr);
  (b.kind_ == MemoryKind::DeviceLocal ? device_bytes_ : host_bytes_) -= b.size_;
  if (b.dedicated_ != VK_NULL_HANDLE) {
    vkFreeMemory(device_.handle(), b.dedicated_, nullptr);
    reserved_ -= b.reserved_;
    return;
  }
  if (b.block_ < 0) return;
  Pool& pool = pools_[b.memory_type_];
  Block& block = *pool.blocks[static_cast<size_t>(b.block_)];
  uint64_t offset = b.offset_, size = b.reserved_;
  auto next = block.free.lower_bound(offset);
  if (next != block.free.end() && offset + size == next->first) {
    size += next->second;
    next = block.free.erase(next);
  }
  if (next != block.free.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      offset = prev->first;
      size += prev->second;
      block.free.erase(prev);
    }
  }
  block.free[offset] = size;
  bool empty = offset == 0 && size == block.size;
  size_t live = std::count_if(pool.blocks.begin(), pool.blocks.end(), [](const auto& p) { return p != nullptr; });
  if (empty && live > 1) {
    vkFreeMemory(device_.handle(), block.memory, nullptr);
    reserved_ -= block.size;
    pool.blocks[static_cast<size_t>(b.block_)].reset();
  }
}

uint64_t Allocator::budget_bytes() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return budget_;
}

void Allocator::set_budget(uint64_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  budget_ = bytes;
}

void Allocator::set_reclaimer(Reclaimer reclaimer) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  reclaimer_ = std::move(reclaimer);
}

uint64_t Allocator::current_device_bytes() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return device_bytes_;
}
uint64_t Allocator::peak_device_bytes() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return peak_device_bytes_;
}
void Allocator::reset_peak() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  peak_device_bytes_ = device_bytes_;
}
uint64_t Allocator::current_host_bytes() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return host_bytes_;
}
uint64_t Allocator::reserved_bytes() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return reserved_;
}
size_t Allocator::block_count() const {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  size_t n = 0;
  for (const auto& [t, pool] : pools_)
    n += std::count_if(pool.blocks.begin(), pool.blocks.end(), [](const auto& p) { return p != nullptr; });
  return n;
}

}  // namespace lattice::gpu
