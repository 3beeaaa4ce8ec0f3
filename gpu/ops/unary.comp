#version 450
#extension GL_GOOGLE_include_directive : require
// OUT[i] = f(IN[in_offset + i]) for the activation functions of transformer MLPs.
#include "unary_infos.h"
layout(local_size_x = UNARY_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint FN = UNARY_GELU_ERF;
layout(std430, binding = 0) readonly buffer InBuf { float x_in[]; };
layout(std430, binding = 1) writeonly buffer OutBuf { float y_out[]; };

// GLSL has no erf. Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7, enough for f32 activations.
float erf_approx(float x) {
  float t = 1.0 / (1.0 + 0.3275911 * abs(x));
  float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-x * x));
}

void main() {
  uint i = lattice_flat_index();
  if (i >= pc.numel) return;
  float x = x_in[pc.in_offset + i];
  float y;
  if (FN == UNARY_GELU_ERF) {
    y = 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
  } else if (FN == UNARY_GELU_TANH) {
    // Clamped because some drivers' tanh overflows to NaN through exp() for large arguments.
    float u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
    y = 0.5 * x * (1.0 + tanh(u));
  } else {
    y = x / (1.0 + exp(-x));
  }
  y_out[i] = y;
}
