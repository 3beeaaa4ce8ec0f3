#include "core/cache.h"

#include "core/atomic_file.h"
#include "core/bytes.h"
#include "core/error.h"

namespace lattice {

size_t CacheEntry::bytes() const {
  size_t b = sizeof(*this);
  for (const auto& [n, v] : outputs) b += n.size() + (v ? v->bytes() : 0);
  return b;
}

const Value* CacheEntry::find(std::string_view name) const {
  for (const auto& [n, v] : outputs)
    if (n == name) return &v;
  return nullptr;
}

void MemoryCache::Slot::measure() {
  bytes = entry->bytes();
  device = 0;
  for (const auto& [n, v] : entry->outputs) device += v ? v->device_bytes() : 0;
}

void MemoryCache::charge(Slot& s) {
  used_ -= s.bytes;
  device_used_ -= s.device;
  s.measure();
  used_ += s.bytes;
  device_used_ += s.device;
}

void MemoryCache::drop(Lru::iterator it) {
  used_ -= it->bytes;
  device_used_ -= it->device;
  index_.erase(it->key);
  lru_.erase(it);
}

CacheEntryPtr MemoryCache::lookup(const Key128& k) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(k);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  charge(*it->second);  // a consumer may have downloaded or uploaded it since
  return it->second->entry;
}

void MemoryCache::insert(const Key128& k, CacheEntryPtr e) {
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(k); it != index_.end()) drop(it->second);
  Slot slot{k, std::move(e)};
  slot.measure();
  if (slot.bytes > budget_) return;
  evict_to(budget_ - slot.bytes);
  used_ += slot.bytes;
  device_used_ += slot.device;
  lru_.push_front(std::move(slot));
  index_[k] = lru_.begin();
}

void MemoryCache::remeasure(const Key128& k) {
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(k); it != index_.end()) {
    charge(*it->second);
    evict_to(budget_);
  }
}

void MemoryCache::erase(const Key128& k) {
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(k); it != index_.end()) drop(it->second);
}

void MemoryCache::clear() {
  std::lock_guard lock(mutex_);
  lru_.clear();
  index_.clear();
  used_ = device_used_ = 0;
}

void MemoryCache::set_budget(size_t bytes) {
  std::lock_guard lock(mutex_);
  budget_ = bytes;
  evict_to(budget_);
}

void MemoryCache::evict_to(size_t target) {
  while (used_ > target && !lru_.empty()) {
    drop(std::prev(lru_.end()));
    ++evictions_;
  }
}

size_t MemoryCache::spill_device(size_t needed, const void* device) {
  std::vector<std::pair<Key128, CacheEntryPtr>> candidates;  // least recently used first
  {
    std::lock_guard lock(mutex_);
    // Every entry: a charge can be stale (a consumer uploaded the value since), and spill_to_host() says
    // quickly when there is nothing to free.
    for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) candidates.emplace_back(it->key, it->entry);
  }
  size_t freed = 0, spilled = 0;
  std::vector<std::pair<Key128, CacheEntryPtr>> touched;
  for (auto& [k, e] : candidates) {
    if (freed >= needed) break;
    bool any = false;
    for (const auto& [n, v] : e->outputs)
      if (const size_t f = v ? v->spill_to_host(device) : 0; f > 0) {
        freed += f;
        ++spilled;
        any = true;
      }
    if (any) touched.emplace_back(k, e);
  }
  std::lock_guard lock(mutex_);
  for (const auto& [k, e] : touched)
    if (auto it = index_.find(k); it != index_.end() && it->second->entry == e) charge(*it->second);
  spills_ += spilled;
  spilled_bytes_ += freed;
  evict_to(budget_);  // the host copies may have pushed the total over
  return freed;
}

size_t MemoryCache::used() const {
  std::lock_guard lock(mutex_);
  return used_;
}

size_t MemoryCache::device_used() const {
  std::lock_guard lock(mutex_);
  return device_used_;
}

size_t MemoryCache::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

size_t MemoryCache::evictions() const {
  std::lock_guard lock(mutex_);
  return evictions_;
}

size_t MemoryCache::spills() const {
  std::lock_guard lock(mutex_);
  return spills_;
}

size_t MemoryCache::spilled_bytes() const {
  std::lock_guard lock(mutex_);
  return spilled_bytes_;
}

// ---- disk ----

namespace {
constexpr char kMagic[8] = {'L', 'A', 'T', 'C', 'A', 'C', 'H', 'E'};
constexpr uint32_t kDiskFormat = 1;
}  // namespace

DiskCache::DiskCache(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || !std::filesystem::is_directory(dir_))
    throw_invalid("cannot use cache folder " + dir_.string() + ": " + (ec ? ec.message() : "not a folder"));
}

std::filesystem::path DiskCache::path_for(const Key128& k) const {
  const std::string h = k.hex();
  return dir_ / h.substr(0, 2) / (h + ".lcv");
}

bool DiskCache::store(const Key128& k, const CacheEntry& e, std::string* problem) {
  std::string body;
  ByteWriter w(body);
  w.bytes(kMagic, sizeof kMagic);
  w.pod<uint32_t>(kDiskFormat);
  w.pod<uint64_t>(k.lo);
  w.pod<uint64_t>(k.hi);
  w.pod<uint32_t>(static_cast<uint32_t>(e.outputs.size()));
  for (const auto& [name, v] : e.outputs) {
    std::string payload;
    if (!v || !v->serialize(payload)) return false;
    w.str(name);
    w.pod<uint8_t>(static_cast<uint8_t>(v->type()));
    w.str(payload);
  }
  w.pod<uint32_t>(static_cast<uint32_t>(e.files.size()));
  for (const auto& f : e.files) w.str(f);
  const Key128 sum = hash_bytes(body.data(), body.size());
  w.pod<uint64_t>(sum.lo);
  w.pod<uint64_t>(sum.hi);
  const auto path = path_for(k);
  try {
    std::filesystem::create_directories(path.parent_path());
    write_file_atomic(path, body);
  } catch (const std::exception& ex) {
    if (problem) *problem = std::string("disk cache: ") + ex.what();
    return false;
  }
  return true;
}

CacheEntryPtr DiskCache::load(const Key128& k, std::string* problem) {
  const auto path = path_for(k);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return nullptr;
  auto reject = [&](const std::string& why) -> CacheEntryPtr {
    std::filesystem::remove(path, ec);
    if (problem) *problem = "disk cache entry " + path.string() + " discarded: " + why;
    return nullptr;
  };
  std::string body;
  try {
    body = read_file(path);
  } catch (const std::exception& ex) {
    return reject(ex.what());
  }
  if (body.size() < sizeof kMagic + 4 + 16 + 4 + 4 + 16) return reject("truncated");
  const size_t n = body.size() - 16;
  const Key128 sum = hash_bytes(body.data(), n);
  uint64_t lo, hi;
  std::memcpy(&lo, body.data() + n, 8);
  std::memcpy(&hi, body.data() + n + 8, 8);
  if (sum.lo != lo || sum.hi != hi) return reject("checksum mismatch");
  try {
    ByteReader r(std::string_view(body.data(), n), "cache entry");
    if (std::memcmp(r.take(sizeof kMagic), kMagic, sizeof kMagic) != 0) return reject("not a cache entry");
    if (r.pod<uint32_t>() != kDiskFormat) return reject("written by another cache format");
    Key128 stored{r.pod<uint64_t>(), r.pod<uint64_t>()};
    if (!(stored == k)) return reject("key mismatch");
    auto e = std::make_shared<CacheEntry>();
    const uint32_t count = r.pod<uint32_t>();
    for (uint32_t i = 0; i < count; ++i) {
      std::string name = r.str();
      const uint8_t t = r.pod<uint8_t>();
      if (t >= all_port_types().size()) return reject("unknown value type");
      const std::string payload = r.str();
      const Deserializer* d = find_deserializer(static_cast<PortType>(t));
      if (!d) return reject("no decoder for value type");
      e->outputs.emplace_back(std::move(name), (*d)(payload));
    }
    const uint32_t files = r.pod<uint32_t>();
    for (uint32_t i = 0; i < files; ++i) e->files.push_back(r.str());
    if (r.remaining() != 0) return reject("trailing bytes");
    return e;
  } catch (const std::exception& ex) {
    return reject(ex.what());
  }
}

}  // namespace lattice
