// Element encodings shared by the data-movement shaders: f32, f16 and bf16 tensors are bound as uint[]
// buffers and converted here, bit-exactly like gpu/dtype.cpp (round to nearest even; f16 overflows to inf;
// NaN stays NaN). Numbering matches lattice::gpu::DType (F32 = 0, F16 = 1, BF16 = 2).
#define DTYPE_F32 0u
#define DTYPE_F16 1u
#define DTYPE_BF16 2u

// The raw bits of element `idx` given the word holding it (for 16-bit types, word = buf[idx >> 1]).
uint lattice_element_bits(uint word, uint idx, uint dtype) {
  if (dtype == DTYPE_F32) return word;
  return (idx & 1u) != 0u ? (word >> 16) : (word & 0xFFFFu);
}

float lattice_decode(uint bits, uint dtype) {
  if (dtype == DTYPE_F32) return uintBitsToFloat(bits);
  if (dtype == DTYPE_BF16) return uintBitsToFloat(bits << 16);
  return unpackHalf2x16(bits).x;  // exact: every f16 value is a normal f32
}

// f32 -> f16 bits with round to nearest even, in integer arithmetic so no driver rounding mode matters
// (F. Giesen's float_to_half_fast3_rtne). The subnormal branch relies on f32 addition rounding to nearest
// even, which Vulkan requires.
uint lattice_f32_to_f16(float v) {
  uint u = floatBitsToUint(v);
  uint sign = (u >> 16) & 0x8000u;
  u &= 0x7FFFFFFFu;
  uint o;
  if (u >= 0x47800000u) {  // >= 65536: inf, or NaN (quiet)
    o = u > 0x7F800000u ? 0x7E00u : 0x7C00u;
  } else if (u < 0x38800000u) {  // below 2^-14: f16 subnormal or zero
    const uint magic = 0x3F000000u;  // 0.5: aligns the 10 subnormal mantissa bits at the bottom
    o = floatBitsToUint(uintBitsToFloat(u) + uintBitsToFloat(magic)) - magic;
  } else {
    uint odd = (u >> 13) & 1u;
    o = (u + 0xC8000FFFu + odd) >> 13;  // rebias exponent (15 - 127) << 23, round half to even
  }
  return o | sign;
}

uint lattice_f32_to_bf16(float v) {
  uint u = floatBitsToUint(v);
  if (isnan(v)) return (u >> 16) | 0x40u;  // keep it a quiet NaN
  return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

uint lattice_encode(float v, uint dtype) {
  if (dtype == DTYPE_F32) return floatBitsToUint(v);
  if (dtype == DTYPE_BF16) return lattice_f32_to_bf16(v);
  return lattice_f32_to_f16(v);
}
