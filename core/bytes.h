#pragma once
/// Little-endian byte writer and bounds-checked reader used by serializers (disk cache, tensor files).
/// The reader never reads past its span: every overrun throws lattice::Error(InvalidInput).

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/error.h"

namespace lattice {

class ByteWriter {
 public:
  explicit ByteWriter(std::string& out) : out_(out) {}
  template <class T>
  void pod(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  void str(std::string_view s) {
    pod<uint64_t>(s.size());
    out_.append(s);
  }

 private:
  std::string& out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in, const char* what = "data") : in_(in), what_(what) {}
  template <class T>
  T pod() {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  const char* take(size_t n) {
    if (n > in_.size() - pos_) throw_invalid(std::string("truncated ") + what_);
    const char* p = in_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::string str() {
    auto n = pod<uint64_t>();
    return std::string(take(n), n);
  }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  const char* what_;
};

}  // namespace lattice
