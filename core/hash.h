#pragma once
/// 128-bit content hashing (XXH3-128) for cache keys and disk-cache checksums. Keys are built by feeding
/// length-prefixed fields, so that ("ab","c") and ("a","bc") never collide by construction.

#include <xxhash.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace lattice {

struct Key128 {
  uint64_t lo = 0, hi = 0;
  bool operator==(const Key128&) const = default;
  std::string hex() const;
};

struct Key128Hash {
  size_t operator()(const Key128& k) const { return static_cast<size_t>(k.lo ^ (k.hi * 0x9e3779b97f4a7c15ull)); }
};

class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  Hasher& bytes(const void* p, size_t n);
  Hasher& field(std::string_view s);  ///< length-prefixed
  Hasher& u64(uint64_t v);
  Hasher& key(const Key128& k);
  Key128 finish() const;

 private:
  XXH3_state_t* state_;
};

Key128 hash_bytes(const void* p, size_t n);

}  // namespace lattice
