#pragma once
/// exact_device_dtype: the device dtype (gpu::DType) that holds a stored tensor dtype's bytes exactly as they are,
/// or nothing when the device has no such type (integers, bool, f64). One mapping for every upload path.

#include <optional>

#include "core/types/tensor.h"
#include "gpu/dtype.h"

namespace lattice {

inline std::optional<gpu::DType> exact_device_dtype(DType t) {
  switch (t) {
    case DType::F32: return gpu::DType::F32;
    case DType::F16: return gpu::DType::F16;
    case DType::BF16: return gpu::DType::BF16;
    case DType::F8E4M3: return gpu::DType::F8E4M3FN;
    case DType::F8E5M2: return gpu::DType::F8E5M2;
    default: return std::nullopt;
  }
}

}  // namespace lattice
