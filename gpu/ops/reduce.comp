#version 450
#extension GL_GOOGLE_include_directive : require
// Reduction over one axis, one invocation per output element. Sums are compensated (Kahan), so the error
// does not grow with the axis length as a plain f32 running sum's would; `precise` keeps the compiler
// from simplifying the compensation away.
#include "reduce_infos.h"
layout(local_size_x = REDUCE_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint OP = REDUCE_SUM;
layout(std430, binding = 0) readonly buffer InBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer OutBuf { float o[]; };

void main() {
  uint i = lattice_flat_index();
  if (i >= pc.numel) return;
  uint rest = i, base = pc.in_offset;
  for (int d = int(pc.rank) - 1; d >= 0; --d) {
    base += (rest % pc.shape[d]) * pc.strides[d];
    rest /= pc.shape[d];
  }
  if (OP == REDUCE_MAX) {
    // torch.max propagates NaN; GLSL max() may return either operand when one is NaN.
    float m = -1.0 / 0.0;
    bool nan = false;
    for (uint j = 0; j < pc.n; ++j) {
      float v = x[base + j * pc.red_stride];
      nan = nan || isnan(v);
      m = v > m ? v : m;
    }
    o[i] = nan ? uintBitsToFloat(0x7FC00000u) : m;
    return;
  }
  precise float sum = 0.0, comp = 0.0;
  for (uint j = 0; j < pc.n; ++j) {
    float v = x[base + j * pc.red_stride];
    precise float y = (OP == REDUCE_L1 ? abs(v) : v) - comp;
    precise float t = sum + y;
    comp = isinf(t) ? 0.0 : (t - sum) - y;  // inf - inf would turn an infinite sum into NaN
    sum = t;
  }
  o[i] = OP == REDUCE_MEAN ? sum / float(pc.n) : sum;
}
