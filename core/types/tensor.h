#pragma once
/// Host tensors: a dtype, a shape and contiguous row-major bytes. Device tensors live in gpu/; this type
/// is what crosses files (safetensors) and the disk cache.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/value.h"

namespace lattice {

enum class DType : uint8_t { F32, F16, BF16, F8E4M3, F8E5M2, I64, I32, I16, I8, U8, Bool, F64 };

size_t dtype_size(DType t);
/// Safetensors spelling: "F32", "BF16", "F8_E4M3", ...
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);

struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  ///< numel() * dtype_size(dtype) bytes

  int64_t numel() const;
  std::string shape_string() const;  ///< "[2, 3, 4]"
  /// Converts any floating or integer dtype to float32 values (throws for dtypes it cannot).
  std::vector<float> to_f32() const;
  static HostTensor from_f32(std::vector<int64_t> shape, const std::vector<float>& values);
};

/// `bytes` (count values of `dtype`, e.g. a view of a mapped checkpoint) as float32, without copying them first.
std::vector<float> to_f32(DType dtype, std::span<const uint8_t> bytes, size_t count);

class TensorData final : public Data {
 public:
  explicit TensorData(HostTensor t) : tensor(std::move(t)) {}
  PortType type() const override { return PortType::Tensor; }
  size_t bytes() const override { return sizeof(*this) + tensor.data.size(); }
  std::string describe() const override;
  bool serialize(std::string& out) const override;
  const HostTensor tensor;
};

/// A named, ordered set of tensors, e.g. the content of a .safetensors file.
class TensorSetData final : public Data {
 public:
  using Entry = std::pair<std::string, HostTensor>;
  explicit TensorSetData(std::vector<Entry> e) : entries(std::move(e)) {}
  PortType type() const override { return PortType::Tensors; }
  size_t bytes() const override;
  std::string describe() const override;
  bool serialize(std::string& out) const override;
  const HostTensor* find(std::string_view name) const;
  const std::vector<Entry> entries;
};

float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t h);
uint16_t float_to_bf16(float f);  ///< round to nearest even
float fp8_e4m3_to_float(uint8_t v);
float fp8_e5m2_to_float(uint8_t v);

}  // namespace lattice
