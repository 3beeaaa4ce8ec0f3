#include "gpu/staging.h"

#include <algorithm>
#include <cstring>

#include "gpu/allocator.h"
#include "gpu/command_stream.h"
#include "gpu/context.h"

namespace lattice::gpu {

std::shared_ptr<Buffer> Staging::chunk() {
  if (!chunk_) chunk_ = context_.allocator().create_buffer(kChunkBytes, MemoryKind::HostVisible);
  return chunk_;
}

void Staging::upload(const std::shared_ptr<Buffer>& dst, uint64_t offset, const void* src, uint64_t bytes) {
  if (bytes == 0) return;
  if (dst->mapped()) {
    std::memcpy(static_cast<char*>(dst->mapped()) + offset, src, bytes);
    return;
  }
  std::lock_guard lock(mutex_);
  auto staging = chunk();
  CommandStream stream(context_);
  for (uint64_t done = 0; done < bytes; done += kChunkBytes) {
    uint64_t n = std::min(kChunkBytes, bytes - done);
    std::memcpy(staging->mapped(), static_cast<const char*>(src) + done, n);
    stream.copy(staging, 0, dst, offset + done, n);
    stream.finish();
  }
}

void Staging::download(const std::shared_ptr<Buffer>& src, uint64_t offset, void* dst, uint64_t bytes) {
  if (bytes == 0) return;
  if (src->mapped()) {
    std::memcpy(dst, static_cast<const char*>(src->mapped()) + offset, bytes);
    return;
  }
  std::lock_guard lock(mutex_);
  auto staging = chunk();
  CommandStream stream(context_);
  for (uint64_t done = 0; done < bytes; done += kChunkBytes) {
    uint64_t n = std::min(kChunkBytes, bytes - done);
    stream.copy(src, offset + done, staging, 0, n);
    stream.finish();
    std::memcpy(static_cast<char*>(dst) + done, staging->mapped(), n);
  }
}

}  // namespace lattice::gpu
