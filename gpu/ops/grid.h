#pragma once
/// Workgroup counts for 1-D dispatches, matching lattice_flat_index() in gpu/shaders/common.glsl.

#include <algorithm>
#include <array>
#include <cstdint>

namespace lattice::gpu {

/// Groups of `local` invocations covering `count` items, as {x, y, 1} with x <= 65535.
inline std::array<uint32_t, 3> grid_1d(uint64_t count, uint32_t local) {
  uint64_t groups = std::max<uint64_t>(1, (count + local - 1) / local);
  uint64_t x = std::min<uint64_t>(groups, 65535);
  return {static_cast<uint32_t>(x), static_cast<uint32_t>((groups + x - 1) / x), 1};
}

}  // namespace lattice::gpu
