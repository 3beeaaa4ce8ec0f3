#include "core/types/tensor.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/bytes.h"
#include "core/error.h"

namespace lattice {

namespace {
struct DTypeInfo {
  DType t;
  std::string_view name;
  size_t size;
};
constexpr std::array<DTypeInfo, 12> kDTypes{{
    {DType::F32, "F32", 4},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::F8E4M3, "F8_E4M3", 1},
    {DType::F8E5M2, "F8_E5M2", 1},
    {DType::I64, "I64", 8},
    {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},
    {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},
    {DType::Bool, "BOOL", 1},
    {DType::F64, "F64", 8},
}};
}  // namespace

size_t dtype_size(DType t) {
  for (const auto& d : kDTypes)
    if (d.t == t) return d.size;
  return 0;
}

std::string_view dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.t == t) return d.name;
  return "?";
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& d : kDTypes)
    if (d.name == name) return d.t;
  return std::nullopt;
}

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

std::string HostTensor::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400u));
      bits = sign | ((127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t float_to_half(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow to inf
  if (absx < 0x38800000u) {                                               // subnormal or zero
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t e = absx >> 23, m = (absx & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // value = m * 2^(e-150); half subnormal units are 2^-24
    uint32_t r = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = absx - 0x38000000u;  // rebias exponent
  uint32_t h = r >> 13, rem = r & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float bf16_to_float(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint16_t float_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

float fp8_e4m3_to_float(uint8_t v) {
  // e4m3fn: bias 7, no infinities, 0x7f/0xff are NaN.
  int sign = v >> 7, exp = (v >> 3) & 0xf, mant = v & 7;
  float r;
  if (exp == 0xf && mant == 7) return std::nanf("");
  if (exp == 0) r = std::ldexp(static_cast<float>(mant), -9);
  else r = std::ldexp(1.0f + mant / 8.0f, exp - 7);
  return sign ? -r : r;
}

float fp8_e5m2_to_float(uint8_t v) { return half_to_float(static_cast<uint16_t>(v) << 8); }

std::vector<float> HostTensor::to_f32() const { return lattice::to_f32(dtype, data, static_cast<size_t>(numel())); }

std::vector<float> to_f32(DType dtype, std::span<const uint8_t> bytes, size_t n) {
  if (bytes.size() != n * dtype_size(dtype)) throw_invalid("tensor byte size does not match its shape");
  std::vector<float> out(n);
  const uint8_t* p = bytes.data();
  for (size_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::F32: { float v; std::memcpy(&v, p + 4 * i, 4); out[i] = v; break; }
      case DType::F64: { double v; std::memcpy(&v, p + 8 * i, 8); out[i] = static_cast<float>(v); break; }
      case DType::F16: { uint16_t v; std::memcpy(&v, p + 2 * i, 2); out[i] = half_to_float(v); break; }
      case DType::BF16: { uint16_t v; std::memcpy(&v, p + 2 * i, 2); out[i] = bf16_to_float(v); break; }
      case DType::F8E4M3: out[i] = fp8_e4m3_to_float(p[i]); break;
      case DType::F8E5M2: out[i] = fp8_e5m2_to_float(p[i]); break;
      case DType::I64: { int64_t v; std::memcpy(&v, p + 8 * i, 8); out[i] = static_cast<float>(v); break; }
      case DType::I32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); out[i] = static_cast<float>(v); break; }
      case DType::I16: { int16_t v; std::memcpy(&v, p + 2 * i, 2); out[i] = v; break; }
      case DType::I8: out[i] = static_cast<int8_t>(p[i]); break;
      case DType::U8: case DType::Bool: out[i] = p[i]; break;
    }
  }
  return out;
}

HostTensor HostTensor::from_f32(std::vector<int64_t> shape, const std::vector<float>& values) {
  HostTensor t;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  if (static_cast<size_t>(t.numel()) != values.size()) throw_eval("tensor shape does not match value count");
  t.data.resize(values.size() * 4);
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

static void write_tensor(ByteWriter& w, const HostTensor& t) {
  w.pod<uint8_t>(static_cast<uint8_t>(t.dtype));
  w.pod<uint32_t>(static_cast<uint32_t>(t.shape.size()));
  for (auto s : t.shape) w.pod<int64_t>(s);
  w.pod<uint64_t>(t.data.size());
  w.bytes(t.data.data(), t.data.size());
}

HostTensor read_tensor(ByteReader& r) {
  HostTensor t;
  auto dt = r.pod<uint8_t>();
  if (dt > static_cast<uint8_t>(DType::F64)) throw_invalid("unknown tensor dtype in cached data");
  t.dtype = static_cast<DType>(dt);
  auto rank = r.pod<uint32_t>();
  if (rank > 16) throw_invalid("tensor rank out of range in cached data");
  for (uint32_t i = 0; i < rank; ++i) {
    auto s = r.pod<int64_t>();
    if (s < 0) throw_invalid("negative tensor dimension in cached data");
    t.shape.push_back(s);
  }
  auto n = r.pod<uint64_t>();
  const char* p = r.take(n);
  if (n != static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype)) throw_invalid("tensor size mismatch in cached data");
  t.data.assign(p, p + n);
  return t;
}

std::string TensorData::describe() const {
  return "tensor " + std::string(dtype_name(tensor.dtype)) + " " + tensor.shape_string();
}

bool TensorData::serialize(std::string& out) const {
  ByteWriter w(out);
  write_tensor(w, tensor);
  return true;
}

size_t TensorSetData::bytes() const {
  size_t b = sizeof(*this);
  for (const auto& [n, t] : entries) b += n.size() + t.data.size();
  return b;
}

std::string TensorSetData::describe() const { return "tensors (" + std::to_string(entries.size()) + ")"; }

bool TensorSetData::serialize(std::string& out) const {
  ByteWriter w(out);
  w.pod<uint64_t>(entries.size());
  for (const auto& [n, t] : entries) {
    w.str(n);
    write_tensor(w, t);
  }
  return true;
}

const HostTensor* TensorSetData::find(std::string_view name) const {
  for (const auto& [n, t] : entries)
    if (n == name) return &t;
  return nullptr;
}

}  // namespace lattice
