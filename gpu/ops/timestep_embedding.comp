#version 450
#extension GL_GOOGLE_include_directive : require
// diffusers' get_timestep_embedding, rounded step by step like PyTorch's float32 ops. exp, sin and cos are
// written out (Cephes single-precision algorithms, <= ~1 ulp) instead of using GLSL's built-ins: Vulkan
// only bounds those loosely (sin/cos to 2^-11 absolute, and only on [-pi, pi]) while the arguments here
// reach 1000 (FLUX: t*1000), where a driver's approximate sin would be visibly wrong.
#include "timestep_embedding_infos.h"
layout(local_size_x = TIMESTEP_LOCAL_SIZE) in;
#include "common.glsl"

layout(std430, binding = 0) readonly buffer TBuf { float t[]; };
layout(std430, binding = 1) writeonly buffer OutBuf { float o[]; };

// a / b correctly rounded in practice: GLSL division may be 2.5 ulp off, one residual step fixes it.
float div_rn(float a, float b) {
  precise float q = a / b;
  precise float r = fma(-q, b, a);
  return fma(r, 1.0 / b, q);
}

// Cephes expf: exp(x) = 2^n * exp(r), |r| <= ln2/2, with ln2 split so n*C1 is exact.
float exp_f32(float x) {
  precise float n = floor(x * 1.44269504088896341 + 0.5);
  precise float r = x - n * 0.693359375;
  r = r - n * -2.12194440e-4;
  precise float z = r * r;
  precise float p = 1.9875691500e-4;
  p = p * r + 1.3981999507e-3;
  p = p * r + 8.3334519073e-3;
  p = p * r + 4.1665795894e-2;
  p = p * r + 1.6666665459e-1;
  p = p * r + 5.0000001201e-1;
  p = p * z + r + 1.0;
  return ldexp(p, int(n));
}

// Cephes sinf/cosf: reduction by pi/4 with pi/4 in three parts (exact for |x| < 8192), then the two
// minimax polynomials. Returns (sin x, cos x).
vec2 sincos_f32(float x) {
  float ax = abs(x);
  uint j = uint(ax * 1.27323954473516);
  j = (j + 1u) & ~1u;
  precise float y = float(j);
  precise float r = ((ax - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
  precise float z = r * r;
  precise float ps = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  precise float pc_ = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z -
                      0.5 * z + 1.0;
  uint q = j & 7u;  // octant, even after the rounding above: 0, 2, 4 or 6
  bool swap = q == 2u || q == 6u;
  float s = swap ? pc_ : ps, c = swap ? ps : pc_;
  if (q == 4u || q == 6u) s = -s;
  if (q == 2u || q == 4u) c = -c;
  if (x < 0.0) s = -s;
  return vec2(s, c);
}

void main() {
  uint i = lattice_flat_index();
  if (i >= pc.batch * pc.channels) return;
  uint b = i / pc.channels, jj = i % pc.channels, half_dim = pc.channels / 2u;
  if (jj >= 2u * half_dim) {  // odd channel count: diffusers pads one zero column
    o[i] = 0.0;
    return;
  }
  uint k = jj % half_dim;
  // PyTorch: exponent = -ln(10000) * arange(half) (f32), / (half - shift), exp, * t, * scale.
  precise float exponent = div_rn(-9.210340371976184 * float(k), float(half_dim) - pc.downscale_freq_shift);
  precise float arg = t[pc.t_offset + b * pc.t_stride] * exp_f32(exponent);
  arg = arg * pc.scale;
  vec2 sc = sincos_f32(arg);
  bool first_half = jj < half_dim;
  bool want_sin = (pc.flip_sin_to_cos != 0u) ? !first_half : first_half;
  o[i] = want_sin ? sc.x : sc.y;
}
