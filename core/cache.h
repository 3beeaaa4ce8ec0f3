#pragma once
/// The result caches.
///
/// What a key contains (built by the engine, engine.cpp: node_key): the node's type and implementation
/// version, every resolved parameter value (defaults filled in, in declaration order), each input port's
/// name with its upstream node's key and output name, the identity (canonical path, size, modification
/// time) of every file the node reads, the absolute path of every file it writes, and the frame number for
/// frame-dependent nodes (and nodes with '#' in a path). For nodes whose '#' names a whole frame sequence
/// (NodeDesc::path_sequences) the identities of every file of the sequence, and no frame number.
/// Equal keys mean equal results; anything that could change a result is in the key. Transient values
/// (Data::transient, a video streamed to its consumer) are never stored in either cache: the engine keeps
/// an evaluation that produced one out of them.
///
/// MemoryCache: a byte budget over Data::bytes() (host and device bytes together). Entries are evicted
/// least recently used first when an insert would exceed the budget; an entry larger than the whole budget
/// is not stored. Values handed out are shared, so eviction never invalidates a value a running evaluation
/// still holds. An entry's bytes are measured when it is inserted, looked up, spilled or remeasured (after
/// a node that read it ran: values convert lazily between host and device, so their size changes), and
/// what was charged is what is released.
/// Thread-safe.
///
/// Device residency: results stay on the device while the device's memory allows. When the GPU allocator
/// is asked for more than its budget (gpu/allocator.h, Allocator::set_reclaimer), the device service calls
/// spill_device(): cached values holding memory on that device are spilled to host memory
/// (Data::spill_to_host: download, then free the device buffer), least recently used entry first, until
/// enough is freed. A value whose device memory is still in use (a running node holds the tensor, or
/// recorded work reads it) is skipped: freeing it would free nothing. Keys do not change: a spilled value
/// is equal to what it was, and the next node that needs it on the device uploads it again. Host memory is
/// bounded by the byte budget above; past it entries are evicted, and with a disk cache every serializable
/// result was written there when computed (engine.cpp), so an evicted result comes back from disk.
///
/// DiskCache: one file per key under DIR/<first two hex digits>/<key hex>.lcv, written atomically. Only
/// entries whose every output serializes are stored. Each file carries a magic, a format version, its key
/// and an XXH3-128 checksum of its content; a file that is truncated, fails the checksum, names another
/// key or cannot be decoded is deleted and reported as a miss (the engine recomputes and says so through
/// Observer::warning). Nothing evicts disk entries automatically; `lattice --cache-dir` users delete the folder.

#include <filesystem>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/hash.h"
#include "core/value.h"

namespace lattice {

/// The outputs one node evaluation produced, plus the files it wrote.
struct CacheEntry {
  std::vector<std::pair<std::string, Value>> outputs;
  std::vector<std::string> files;
  size_t bytes() const;
  const Value* find(std::string_view name) const;
};
using CacheEntryPtr = std::shared_ptr<const CacheEntry>;

class MemoryCache {
 public:
  explicit MemoryCache(size_t budget_bytes = size_t{2} << 30) : budget_(budget_bytes) {}
  CacheEntryPtr lookup(const Key128& k);
  void insert(const Key128& k, CacheEntryPtr e);
  /// Re-measures an entry whose values may have changed residency (the engine calls it for a node's inputs
  /// after the node ran: it may have uploaded or downloaded them). Keeps its place in the LRU order.
  void remeasure(const Key128& k);
  void erase(const Key128& k);
  void clear();
  void set_budget(size_t bytes);
  size_t budget() const { return budget_; }
  size_t used() const;         ///< bytes charged for the entries held (host and device)
  size_t device_used() const;  ///< the part of used() in device memory
  size_t size() const;
  size_t evictions() const;

  /// Spills cached device values on `device` (nullptr: any) to host memory, least recently used entry
  /// first, until at least `needed` device bytes are freed or no candidate is left; returns the bytes
  /// freed. Downloads happen outside the cache's lock, so lookups from other threads do not wait on them.
  size_t spill_device(size_t needed, const void* device = nullptr);
  size_t spills() const;         ///< values spilled so far
  size_t spilled_bytes() const;  ///< device bytes those spills freed

 private:
  struct Slot {
    Key128 key;
    CacheEntryPtr entry;
    size_t bytes = 0, device = 0;  // what is charged for it
    void measure();
  };
  void charge(Slot& s);                     // mutex held; re-measures s and updates the totals
  void drop(std::list<Slot>::iterator it);  // mutex held
  void evict_to(size_t target);             // mutex held
  using Lru = std::list<Slot>;
  mutable std::mutex mutex_;
  Lru lru_;  // front = most recently used
  std::unordered_map<Key128, Lru::iterator, Key128Hash> index_;
  size_t budget_;
  size_t used_ = 0, device_used_ = 0;
  size_t evictions_ = 0, spills_ = 0, spilled_bytes_ = 0;
};

/// The memory cache of the render in progress, as a service in the Environment (core/eval_context.h):
/// Engine::render and Engine::evaluate lend their cache here for their duration, so that a device service
/// whose memory runs short can spill cached values (nodes/gpu_service.h). `cache` is null otherwise.
struct CacheLoan {
  MemoryCache* cache = nullptr;
};

class DiskCache {
 public:
  /// Creates the folder if needed; throws Error(InvalidInput) if it cannot.
  explicit DiskCache(std::filesystem::path dir);
  /// nullopt on a miss. On a corrupt entry, deletes it, sets *problem (if given) and returns nullopt.
  CacheEntryPtr load(const Key128& k, std::string* problem = nullptr);
  /// Returns false (and writes nothing) when some output cannot be serialized. Write errors are
  /// reported through *problem and are not fatal: the cache is an optimisation.
  bool store(const Key128& k, const CacheEntry& e, std::string* problem = nullptr);
  std::filesystem::path path_for(const Key128& k) const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

}  // namespace lattice
