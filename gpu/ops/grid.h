#pragma once
/// Workgroup counts for 1-D dispatches, matching lattice_flat_index() in gpu/shaders/common.glsl, and for
/// row-wise dispatches (lattice_row_index()).

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

/// Workgroups for row-wise work: `per_row` groups along x for each of `rows` rows, the rows along y and, beyond
/// 65535, z. A shader finds its row as gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y and must skip
/// rows >= `rows` (the last z layer may be partial).
inline std::array<uint32_t, 3> grid_rows(uint64_t rows, uint32_t per_row) {
  uint64_t y = std::clamp<uint64_t>(rows, 1, 65535);
  return {std::max<uint32_t>(per_row, 1), static_cast<uint32_t>(y), static_cast<uint32_t>((rows + y - 1) / y)};
}

}  // namespace lattice::gpu
