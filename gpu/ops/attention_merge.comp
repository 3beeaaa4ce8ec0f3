#version 450
#extension GL_GOOGLE_include_directive : require
// Merges two attention partials over disjoint key ranges (attention_merge_infos.h): each is the softmax-weighted
// mean of its values together with the log of its softmax denominator, so reweighting both means by their
// denominators relative to the larger one gives exactly the attention over the union of the keys.
#include "attention_merge_infos.h"
layout(local_size_x = ATTENTION_MERGE_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint D = 64;

layout(std430, binding = 0) buffer O1 { float o1[]; };
layout(std430, binding = 1) buffer Lse1 { float lse1[]; };
layout(std430, binding = 2) readonly buffer O2 { float o2[]; };
layout(std430, binding = 3) readonly buffer Lse2 { float lse2[]; };

const float NEG_INF = -1.0 / 0.0;

void main() {
  uint row = lattice_flat_index();
  if (row >= pc.rows) return;
  float a = lse1[row], b = lse2[row];
  float m = max(a, b);
  if (m == NEG_INF) return;  // neither partial saw a finite score: O1 is zeros already, LSE1 stays -inf
  float wa = exp(a - m), wb = exp(b - m);  // exp(-inf) = 0 for an empty side; the larger side weighs 1
  float sum = wa + wb;
  float ca = wa / sum, cb = wb / sum;
  for (uint d = 0; d < D; ++d) o1[row * D + d] = ca * o1[row * D + d] + cb * o2[row * D + d];
  lse1[row] = m + log(sum);
}
