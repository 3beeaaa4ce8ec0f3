#version 450
#extension GL_GOOGLE_include_directive : require
// Exposure, gamma and saturation of one pixel of an interleaved HWC image; alpha is copied. The math is
// image_color_cpu()'s, operation for operation.
#include "image_color_infos.h"
layout(local_size_x = IMAGE_COLOR_LOCAL_SIZE) in;
#include "common.glsl"

layout(std430, binding = 0) readonly buffer InBuf { float x_in[]; };
layout(std430, binding = 1) writeonly buffer OutBuf { float y_out[]; };

void main() {
  uint p = lattice_flat_index();
  if (p >= pc.pixels) return;
  uint base = p * pc.channels;
  uint cc = pc.channels >= 3u ? 3u : 1u;
  // precise: no fusing into fma, so the adds and multiplies round as the CPU twin's do.
  precise vec3 v = vec3(0.0);
  for (uint c = 0u; c < cc; ++c) {
    precise float x = x_in[pc.in_offset + base + c] * pc.gain;
    // pow() is exp2(y * log2(x)) on most drivers; +Inf must stay +Inf, as std::pow gives.
    v[c] = x > 0.0 ? (isinf(x) ? x : pow(x, pc.inv_gamma)) : x;
  }
  if (cc == 3u) {
    precise float luma = 0.2126 * v.x + 0.7152 * v.y + 0.0722 * v.z;
    for (uint c = 0u; c < 3u; ++c) v[c] = luma + (v[c] - luma) * pc.saturation;
  }
  for (uint c = 0u; c < cc; ++c) y_out[base + c] = v[c];
  for (uint c = cc; c < pc.channels; ++c) y_out[base + c] = x_in[pc.in_offset + base + c];
}
