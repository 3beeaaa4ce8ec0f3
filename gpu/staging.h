#pragma once
/// Staging: synchronous host <-> device copies.
///
/// Contract. Owned by the Context. upload()/download() return only when the data has arrived; they
/// submit and wait on their own CommandStream, so they are a host round trip: call them outside a batch,
/// never between ops of one forward. The caller must make sure no submitted work still reads (upload) or
/// writes (download) the buffer. When the buffer's memory is host-visible (lavapipe, UMA, resizable BAR)
/// the data is copied with memcpy; otherwise it moves through one reused HostVisible buffer of
/// kChunkBytes, chunk by chunk. Thread-safe (one mutex).

#include <cstdint>
#include <memory>
#include <mutex>

namespace lattice::gpu {

class Buffer;
class Context;

class Staging {
 public:
  static constexpr uint64_t kChunkBytes = 16ull << 20;
  explicit Staging(Context& context) : context_(context) {}
  void upload(const std::shared_ptr<Buffer>& dst, uint64_t offset, const void* src, uint64_t bytes);
  void download(const std::shared_ptr<Buffer>& src, uint64_t offset, void* dst, uint64_t bytes);

 private:
  std::shared_ptr<Buffer> chunk();
  Context& context_;
  std::mutex mutex_;
  std::shared_ptr<Buffer> chunk_;
};

}  // namespace lattice::gpu
