#version 450
#extension GL_GOOGLE_include_directive : require
// GroupNorm for NC* tensors: one workgroup per (batch, group) reduces the group's mean, then its variance
// over (x - mean)^2 (two passes, as in norm.comp), through a shared-memory tree; then every invocation
// writes its strided share, applying the per-channel affine. A workgroup per group, not an invocation:
// VAE groups hold tens of thousands of values and there are only batch * 32 of them.
#include "group_norm_infos.h"
layout(local_size_x = GROUP_NORM_LOCAL_SIZE) in;

layout(constant_id = 0) const uint AFFINE = 0;
layout(std430, binding = 0) readonly buffer InBuf { float x[]; };
layout(std430, binding = 1) readonly buffer WeightBuf { float weight[]; };
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 3) writeonly buffer OutBuf { float y[]; };

shared float partial[GROUP_NORM_LOCAL_SIZE];

// Sum of every invocation's `v`, returned to all of them.
float workgroup_sum(float v) {
  uint t = gl_LocalInvocationID.x;
  partial[t] = v;
  barrier();
  for (uint s = GROUP_NORM_LOCAL_SIZE / 2; s > 0; s >>= 1) {
    if (t < s) partial[t] += partial[t + s];
    barrier();
  }
  float total = partial[0];
  barrier();  // partial[] is reused by the next call
  return total;
}

void main() {
  uint g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  if (g >= pc.groups) return;  // uniform per workgroup, so the barriers stay in uniform control flow
  uint t = gl_LocalInvocationID.x;
  uint count = pc.channels_per_group * pc.spatial;
  uint base = pc.in_offset + g * count, out_base = g * count;
  float s = 0.0;
  for (uint i = t; i < count; i += GROUP_NORM_LOCAL_SIZE) s += x[base + i];
  float mean = workgroup_sum(s) / float(count);
  float ss = 0.0;
  for (uint i = t; i < count; i += GROUP_NORM_LOCAL_SIZE) {
    float d = x[base + i] - mean;
    ss += d * d;
  }
  float inv = inversesqrt(workgroup_sum(ss) / float(count) + pc.eps);
  uint c0 = (g % pc.groups_per_batch) * pc.channels_per_group;
  for (uint i = t; i < count; i += GROUP_NORM_LOCAL_SIZE) {
    float v = (x[base + i] - mean) * inv;
    if (AFFINE != 0u) {
      uint c = c0 + i / pc.spatial;
      v = v * weight[pc.weight_offset + c] + bias[pc.bias_offset + c];
    }
    y[out_base + i] = v;
  }
}
