// Activation functions shared by unary.comp and the matmul epilogue (matmul*.comp), so that a fused
// activation computes exactly what the separate op does. Which id names which function: activation_infos.h.
#include "activation_infos.h"

// GLSL has no erf. Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7, enough for f32 activations.
float lattice_erf_approx(float x) {
  float t = 1.0 / (1.0 + 0.3275911 * abs(x));
  float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-x * x));
}

float lattice_gelu_erf(float x) { return 0.5 * x * (1.0 + lattice_erf_approx(x * 0.70710678118654752)); }

float lattice_gelu_tanh(float x) {
  // Clamped because some drivers' tanh overflows to NaN through exp() for large arguments.
  float u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
  return 0.5 * x * (1.0 + tanh(u));
}

float lattice_silu(float x) { return x / (1.0 + exp(-x)); }

// e^x (a Gaussian's std from its log-variance, vae.encode); +inf past f32's range, as std::exp.
float lattice_exp(float x) { return exp(x); }

// The activation with id `act` (activation_infos.h) of x; x itself for LATTICE_ACT_NONE.
#define LATTICE_ACTIVATION_CASE(name, fn, id) \
  if (act == uint(id)) return fn(x);
float lattice_activate(uint act, float x) {
  LATTICE_ACTIVATIONS(LATTICE_ACTIVATION_CASE)
  return x;
}
#undef LATTICE_ACTIVATION_CASE
