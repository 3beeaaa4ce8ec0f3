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
/// MemoryCache: a byte budget over Data::bytes(). Entries are evicted least recently used first when an
/// insert would exceed the budget; an entry larger than the whole budget is not stored. Values handed out
/// are shared, so eviction never invalidates a value a running evaluation still holds. Thread-safe.
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
  void erase(const Key128& k);
  void clear();
  void set_budget(size_t bytes);
  size_t budget() const { return budget_; }
  size_t used() const;
  size_t size() const;
  size_t evictions() const { return evictions_; }

 private:
  void evict_to(size_t target);  // mutex held
  using Lru = std::list<std::pair<Key128, CacheEntryPtr>>;
  mutable std::mutex mutex_;
  Lru lru_;  // front = most recently used
  std::unordered_map<Key128, Lru::iterator, Key128Hash> index_;
  size_t budget_;
  size_t used_ = 0;
  size_t evictions_ = 0;
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
