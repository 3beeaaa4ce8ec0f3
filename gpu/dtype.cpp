#include "gpu/dtype.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace lattice::gpu {

uint32_t dtype_bytes(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16:
    case DType::BF16: return 2;
    case DType::F8E4M3FN:
    case DType::F8E5M2: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::F8E4M3FN: return "f8e4m3fn";
    case DType::F8E5M2: return "f8e5m2";
  }
  return "?";
}

namespace {

// A small IEEE-like format: sign, `E` exponent bits with `bias`, `M` mantissa bits. `ieee_top` says whether
// the all-ones exponent is reserved for inf/NaN (f16, e5m2) or holds normal numbers (e4m3fn, where only
// S.1111.111 is NaN).
struct Minifloat {
  int E, M, bias;
  bool ieee_top;
  bool saturate;
  uint32_t nan_code;
};
constexpr Minifloat kF16{5, 10, 15, true, false, 0x7e00};
constexpr Minifloat kE4M3{4, 3, 7, false, true, 0x7f};
constexpr Minifloat kE5M2{5, 2, 15, true, true, 0x7f};

double max_finite(const Minifloat& f) {
  int top_exp = (1 << f.E) - 1 - (f.ieee_top ? 1 : 0);
  double mant = f.ieee_top ? (2.0 - std::ldexp(1.0, -f.M)) : (2.0 - std::ldexp(1.0, 1 - f.M));
  return std::ldexp(mant, top_exp - f.bias);
}

uint32_t encode_mini(const Minifloat& f, float v) {
  uint32_t sign = std::signbit(v) ? 1u << (f.E + f.M) : 0u;
  if (std::isnan(v)) return f.nan_code | sign;
  double a = std::fabs(static_cast<double>(v));
  uint32_t inf_code = ((1u << f.E) - 1) << f.M;
  double maxv = max_finite(f);
  if (std::isinf(a) && !f.saturate) return sign | inf_code;
  if (a == 0) return sign;
  int e2;
  std::frexp(a, &e2);
  int exp = std::max(e2 - 1, 1 - f.bias);
  double q = std::nearbyint(std::ldexp(a, f.M - exp));  // mantissa with implicit bit; ties to even
  if (q >= std::ldexp(1.0, f.M + 1)) {
    q /= 2;
    ++exp;
  }
  if (std::ldexp(q, exp - f.M) > maxv) {
    if (!f.saturate) return sign | inf_code;
    return sign | encode_mini(f, static_cast<float>(maxv));
  }
  uint32_t mq = static_cast<uint32_t>(q);
  if (mq < (1u << f.M)) return sign | mq;  // subnormal
  return sign | (static_cast<uint32_t>(exp + f.bias) << f.M) | (mq - (1u << f.M));
}

float decode_mini(const Minifloat& f, uint32_t code) {
  bool neg = (code >> (f.E + f.M)) & 1;
  uint32_t e = (code >> f.M) & ((1u << f.E) - 1);
  uint32_t m = code & ((1u << f.M) - 1);
  double v;
  if (f.ieee_top && e == (1u << f.E) - 1) {
    v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else if (!f.ieee_top && e == (1u << f.E) - 1 && m == (1u << f.M) - 1) {
    v = std::numeric_limits<double>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(static_cast<double>(m), 1 - f.bias - f.M);
  } else {
    v = std::ldexp(static_cast<double>(m + (1u << f.M)), static_cast<int>(e) - f.bias - f.M);
  }
  return static_cast<float>(neg ? -v : v);
}

}  // namespace

uint16_t float_to_f16(float v) { return static_cast<uint16_t>(encode_mini(kF16, v)); }
float f16_to_float(uint16_t v) { return decode_mini(kF16, v); }
uint8_t float_to_f8e4m3fn(float v) { return static_cast<uint8_t>(encode_mini(kE4M3, v)); }
float f8e4m3fn_to_float(uint8_t v) { return decode_mini(kE4M3, v); }
uint8_t float_to_f8e5m2(float v) { return static_cast<uint8_t>(encode_mini(kE5M2, v)); }
float f8e5m2_to_float(uint8_t v) { return decode_mini(kE5M2, v); }

uint16_t float_to_bf16(float v) {
  uint32_t u = std::bit_cast<uint32_t>(v);
  if (std::isnan(v)) return static_cast<uint16_t>((u >> 16) | 0x40);  // keep it a (quiet) NaN
  u += 0x7fff + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}
float bf16_to_float(uint16_t v) { return std::bit_cast<float>(static_cast<uint32_t>(v) << 16); }

void encode(DType dtype, std::span<const float> values, std::byte* out) {
  size_t n = values.size();
  switch (dtype) {
    case DType::F32: std::memcpy(out, values.data(), n * 4); return;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = float_to_f16(values[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = float_to_bf16(values[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case DType::F8E4M3FN:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(float_to_f8e4m3fn(values[i]));
      return;
    case DType::F8E5M2:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(float_to_f8e5m2(values[i]));
      return;
  }
}

void decode(DType dtype, const std::byte* in, std::span<float> out) {
  size_t n = out.size();
  switch (dtype) {
    case DType::F32: std::memcpy(out.data(), in, n * 4); return;
    case DType::F16:
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, in + 2 * i, 2);
        out[i] = dtype == DType::F16 ? f16_to_float(h) : bf16_to_float(h);
      }
      return;
    case DType::F8E4M3FN:
      for (size_t i = 0; i < n; ++i) out[i] = f8e4m3fn_to_float(static_cast<uint8_t>(in[i]));
      return;
    case DType::F8E5M2:
      for (size_t i = 0; i < n; ++i) out[i] = f8e5m2_to_float(static_cast<uint8_t>(in[i]));
      return;
  }
}

}  // namespace lattice::gpu
