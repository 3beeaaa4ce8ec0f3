#include "core/hash.h"

#include <cstdio>
#include <new>

namespace lattice {

std::string Key128::hex() const {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return buf;
}

Hasher::Hasher() : state_(XXH3_createState()) {
  if (!state_) throw std::bad_alloc();
  XXH3_128bits_reset(state_);
}

Hasher::~Hasher() { XXH3_freeState(state_); }

Hasher& Hasher::bytes(const void* p, size_t n) {
  XXH3_128bits_update(state_, p, n);
  return *this;
}

Hasher& Hasher::field(std::string_view s) {
  u64(s.size());
  return bytes(s.data(), s.size());
}

Hasher& Hasher::u64(uint64_t v) { return bytes(&v, sizeof v); }

Hasher& Hasher::key(const Key128& k) {
  u64(k.lo);
  return u64(k.hi);
}

Key128 Hasher::finish() const {
  XXH128_hash_t h = XXH3_128bits_digest(state_);
  return {h.low64, h.high64};
}

Key128 hash_bytes(const void* p, size_t n) {
  XXH128_hash_t h = XXH3_128bits(p, n);
  return {h.low64, h.high64};
}

}  // namespace lattice
