#version 450
#extension GL_GOOGLE_include_directive : require
// Exact order statistics of |x| per row by radix select: the bits of a non-negative float order as the
// float does, so four passes over the row, each a 256-bin histogram (shared-memory atomics) of the next 8
// bits among the elements whose higher bits match the prefix found so far, narrow the rank down to one bit
// pattern. The value above it is the same one when enough elements tie with it, else the smallest larger
// one (one more pass). Then the row is clamped. NaNs (expected absent) sort above +inf, as in numpy's sort.
#include "percentile_clamp_infos.h"
layout(local_size_x = PERCENTILE_CLAMP_LOCAL_SIZE) in;
#include "common.glsl"

layout(std430, binding = 0) readonly buffer InBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer OutBuf { float y[]; };

shared uint hist[PERCENTILE_CLAMP_LOCAL_SIZE];
shared uint s_prefix, s_rank, s_ties, s_larger;

void main() {
  uint row = lattice_row_index();
  if (row >= pc.rows) return;  // the whole workgroup: barriers below stay in uniform control flow
  uint lid = gl_LocalInvocationID.x, base = pc.in_offset + row * pc.n;
  if (lid == 0) {
    s_prefix = 0u;
    s_rank = pc.below;
    s_larger = 0xFFFFFFFFu;
  }
  uint mask = 0u;
  for (int shift = 24; shift >= 0; shift -= 8) {
    hist[lid] = 0u;
    barrier();
    uint prefix = s_prefix;
    for (uint j = lid; j < pc.n; j += PERCENTILE_CLAMP_LOCAL_SIZE) {
      uint k = floatBitsToUint(abs(x[base + j]));
      if ((k & mask) == prefix) atomicAdd(hist[(k >> uint(shift)) & 255u], 1u);
    }
    barrier();
    if (lid == 0) {
      // The bin holding the rank: the elements in it and below exceed the rank left.
      uint r = s_rank, b = 0u;
      while (hist[b] <= r) r -= hist[b++];
      s_rank = r;
      s_prefix = prefix | (b << uint(shift));
      s_ties = hist[b];  // after the last pass: the elements equal to the order statistic
    }
    barrier();
    mask |= 255u << uint(shift);
  }
  uint lo_bits = s_prefix;
  // Dynamically uniform (shared values read after a barrier): every invocation takes the same branch.
  if (pc.above != pc.below && s_rank + 1u >= s_ties) {
    for (uint j = lid; j < pc.n; j += PERCENTILE_CLAMP_LOCAL_SIZE) {
      uint k = floatBitsToUint(abs(x[base + j]));
      if (k > lo_bits) atomicMin(s_larger, k);
    }
    barrier();
  }
  float lo = uintBitsToFloat(lo_bits);
  float hi = pc.above == pc.below || s_rank + 1u < s_ties ? lo : uintBitsToFloat(s_larger);
  precise float d = hi - lo;
  precise float q = pc.frac >= 0.5 ? hi - d * (1.0 - pc.frac) : lo + d * pc.frac;
  float s = max(pc.floor_value, q);
  uint out_base = row * pc.n;
  for (uint j = lid; j < pc.n; j += PERCENTILE_CLAMP_LOCAL_SIZE) y[out_base + j] = clamp(x[base + j], -s, s);
}
