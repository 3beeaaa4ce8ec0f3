#pragma once
/// Element types of gpu tensors and their host conversions.
///
/// f16 and bf16 are held as 16-bit words, fp8 (e4m3fn, e5m2) as bytes; on the device, ops decode them
/// (fp8 is weight storage only: ops that accept it say so). Host conversions round to nearest even.
/// f16 overflows to infinity; fp8 saturates to its largest finite value (e4m3fn has no infinity; 448) and
/// maps NaN to NaN.

#include <cstddef>
#include <cstdint>
#include <span>

namespace lattice::gpu {

enum class DType : uint8_t { F32, F16, BF16, F8E4M3FN, F8E5M2 };

uint32_t dtype_bytes(DType dtype);
const char* dtype_name(DType dtype);

uint16_t float_to_f16(float v);
float f16_to_float(uint16_t v);
uint16_t float_to_bf16(float v);
float bf16_to_float(uint16_t v);
uint8_t float_to_f8e4m3fn(float v);
float f8e4m3fn_to_float(uint8_t v);
uint8_t float_to_f8e5m2(float v);
float f8e5m2_to_float(uint8_t v);

/// Converts floats to `dtype`'s bytes (out holds values.size() * dtype_bytes(dtype) bytes).
void encode(DType dtype, std::span<const float> values, std::byte* out);
/// Converts `dtype`'s bytes to floats.
void decode(DType dtype, const std::byte* in, std::span<float> out);

}  // namespace lattice::gpu
