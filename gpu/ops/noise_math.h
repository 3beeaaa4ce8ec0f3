// noise_math.h: Philox 4x32-10 and Box-Muller, written once and compiled twice, as GLSL (noise.comp)
// and as C++ (noise.cpp, the CPU implementation). Bit-identical results on every conforming device:
//  - only integer ops and f32 add, sub and mul are used (Vulkan requires those correctly rounded); no
//    division, sqrt, log, sin or cos from the driver, whose precision the spec leaves loose;
//  - every float expression is `precise` in GLSL (SPIR-V NoContraction) and the C++ file is compiled with
//    -ffp-contract=off, so neither side fuses a*b+c into an fma;
//  - constants are given as bit patterns, so no decimal parsing differs between compilers;
//  - no intermediate value is subnormal (drivers may flush those): Horner forms keep magnitudes near the
//    coefficients, and the smallest inputs are 2^-24.
// Accuracy against the exact functions: log and sqrt within a few ulp, sin/cos within 1e-7 absolute.
//
// Mapping (also in noise.h): element i of the stream (seed, offset) takes the Philox block counter
// c = offset + floor(i / 4) as (lo, hi, 0, 0) with key (seed lo, seed hi); the four outputs x0..x3 give
// two Box-Muller pairs (x0, x1) -> (z0, z1) and (x2, x3) -> (z2, z3); element i is z[i mod 4]. For a
// pair (a, b): u1 = ((a >> 8) + 1) * 2^-24 in (0, 1], theta = 2 pi * (b >> 8) * 2^-24,
// z0 = sqrt(-2 ln u1) cos(theta), z1 = sqrt(-2 ln u1) sin(theta).
// The constants were generated from their exact values (f32 round to nearest) by a throwaway script.
#ifndef LATTICE_NOISE_MATH_H
#define LATTICE_NOISE_MATH_H
#ifdef __cplusplus
#include <bit>
#include <cstdint>
namespace lattice::gpu::noise_math {
using uint = uint32_t;
struct uvec4 {
  uint x, y, z, w;
  uvec4(uint a, uint b, uint c, uint d) : x(a), y(b), z(c), w(d) {}
};
struct vec2 {
  float x, y;
  vec2(float a, float b) : x(a), y(b) {}
};
inline void umulExtended(uint a, uint b, uint& hi, uint& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint>(p >> 32);
  lo = static_cast<uint>(p);
}
inline uint floatBitsToUint(float f) { return std::bit_cast<uint>(f); }
inline float uintBitsToFloat(uint u) { return std::bit_cast<float>(u); }
#define LATTICE_PRECISE
#define LATTICE_FN inline
#else
#define LATTICE_PRECISE precise
#define LATTICE_FN
#endif

LATTICE_FN uvec4 philox4x32_10(uvec4 c, uint k0, uint k1) {
  for (int r = 0; r < 10; ++r) {
    uint hi0, lo0, hi1, lo1;
    umulExtended(0xD2511F53u, c.x, hi0, lo0);
    umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
    c = uvec4(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

// ln(u) for u in [2^-24, 1]: u = m * 2^e with m in [sqrt(1/2), sqrt(2)), ln(1 + f) by its Taylor series
// (20 terms: |f| <= 0.415 leaves < 5e-10).
LATTICE_FN float noise_log(float u) {
  uint bits = floatBitsToUint(u);
  int e = int(bits >> 23) - 127;
  LATTICE_PRECISE float m = uintBitsToFloat((bits & 0x007FFFFFu) | 0x3F800000u);
  if (m > uintBitsToFloat(0x3fb504f3u) /* sqrt(2) */) {
    m = m * 0.5f;
    e = e + 1;
  }
  LATTICE_PRECISE float f = m - 1.0f;
  LATTICE_PRECISE float p = uintBitsToFloat(0xbd4ccccdu) /* (-1)^21/20 */;
  p = p * f + uintBitsToFloat(0x3d579436u) /* (-1)^20/19 */;
  p = p * f + uintBitsToFloat(0xbd638e39u) /* (-1)^19/18 */;
  p = p * f + uintBitsToFloat(0x3d70f0f1u) /* (-1)^18/17 */;
  p = p * f + uintBitsToFloat(0xbd800000u) /* (-1)^17/16 */;
  p = p * f + uintBitsToFloat(0x3d888889u) /* (-1)^16/15 */;
  p = p * f + uintBitsToFloat(0xbd924925u) /* (-1)^15/14 */;
  p = p * f + uintBitsToFloat(0x3d9d89d9u) /* (-1)^14/13 */;
  p = p * f + uintBitsToFloat(0xbdaaaaabu) /* (-1)^13/12 */;
  p = p * f + uintBitsToFloat(0x3dba2e8cu) /* (-1)^12/11 */;
  p = p * f + uintBitsToFloat(0xbdcccccdu) /* (-1)^11/10 */;
  p = p * f + uintBitsToFloat(0x3de38e39u) /* (-1)^10/9 */;
  p = p * f + uintBitsToFloat(0xbe000000u) /* (-1)^9/8 */;
  p = p * f + uintBitsToFloat(0x3e124925u) /* (-1)^8/7 */;
  p = p * f + uintBitsToFloat(0xbe2aaaabu) /* (-1)^7/6 */;
  p = p * f + uintBitsToFloat(0x3e4ccccdu) /* (-1)^6/5 */;
  p = p * f + uintBitsToFloat(0xbe800000u) /* (-1)^5/4 */;
  p = p * f + uintBitsToFloat(0x3eaaaaabu) /* (-1)^4/3 */;
  p = p * f + uintBitsToFloat(0xbf000000u) /* (-1)^3/2 */;
  p = p * f + uintBitsToFloat(0x3f800000u) /* (-1)^2/1 */;
  LATTICE_PRECISE float fe = float(e);
  LATTICE_PRECISE float r = fe * uintBitsToFloat(0x3f317200u) /* ln 2, high part */ + (fe * uintBitsToFloat(0x35bfbe8eu) /* ln 2 - high part */ + p * f);
  return r;
}

// sqrt(t) for t >= 0: integer first guess for 1/sqrt(t), three Newton steps (quadratic: 2e-3 -> 1e-11).
LATTICE_FN float noise_sqrt(float t) {
  if (t <= 0.0f) return 0.0f;
  LATTICE_PRECISE float y = uintBitsToFloat(0x5F3759DFu - (floatBitsToUint(t) >> 1));
  LATTICE_PRECISE float h = 0.5f * t;
  y = y * (1.5f - (h * y) * y);
  y = y * (1.5f - (h * y) * y);
  y = y * (1.5f - (h * y) * y);
  LATTICE_PRECISE float r = t * y;
  return r;
}

// (r cos(theta), r sin(theta)) from two Philox words. The quadrant comes exactly from the top two bits of
// the angle; within it, Taylor series on [0, pi/2) (error < 1e-11).
LATTICE_FN vec2 box_muller(uint a, uint b) {
  LATTICE_PRECISE float u1 = float((a >> 8) + 1u) * uintBitsToFloat(0x33800000u) /* 2^-24 */;
  LATTICE_PRECISE float r = noise_sqrt(-2.0f * noise_log(u1));
  uint q = b >> 8;
  uint quadrant = q >> 22;
  LATTICE_PRECISE float t = float(q & 0x003FFFFFu) * uintBitsToFloat(0x34c90fdbu) /* (pi/2) / 2^22 */;
  LATTICE_PRECISE float t2 = t * t;
  LATTICE_PRECISE float s = uintBitsToFloat(0xab573f9fu) /* -1/15! */;
  s = s * t2 + uintBitsToFloat(0x2f309231u) /* (-1)^6/13! */;
  s = s * t2 + uintBitsToFloat(0xb2d7322bu) /* (-1)^5/11! */;
  s = s * t2 + uintBitsToFloat(0x3638ef1du) /* (-1)^4/9! */;
  s = s * t2 + uintBitsToFloat(0xb9500d01u) /* (-1)^3/7! */;
  s = s * t2 + uintBitsToFloat(0x3c088889u) /* (-1)^2/5! */;
  s = s * t2 + uintBitsToFloat(0xbe2aaaabu) /* (-1)^1/3! */;
  s = s * t2 + uintBitsToFloat(0x3f800000u) /* (-1)^0/1! */;
  s = s * t;
  LATTICE_PRECISE float c = uintBitsToFloat(0x29573f9fu) /* 1/16! */;
  c = c * t2 + uintBitsToFloat(0xad49cba5u) /* (-1)^7/14! */;
  c = c * t2 + uintBitsToFloat(0x310f76c7u) /* (-1)^6/12! */;
  c = c * t2 + uintBitsToFloat(0xb493f27eu) /* (-1)^5/10! */;
  c = c * t2 + uintBitsToFloat(0x37d00d01u) /* (-1)^4/8! */;
  c = c * t2 + uintBitsToFloat(0xbab60b61u) /* (-1)^3/6! */;
  c = c * t2 + uintBitsToFloat(0x3d2aaaabu) /* (-1)^2/4! */;
  c = c * t2 + uintBitsToFloat(0xbf000000u) /* (-1)^1/2! */;
  c = c * t2 + uintBitsToFloat(0x3f800000u) /* (-1)^0/0! */;
  LATTICE_PRECISE float cs = c;
  LATTICE_PRECISE float sn = s;
  if (quadrant == 1u) {
    cs = -s;
    sn = c;
  } else if (quadrant == 2u) {
    cs = -c;
    sn = -s;
  } else if (quadrant == 3u) {
    cs = s;
    sn = -c;
  }
  LATTICE_PRECISE float z0 = r * cs;
  LATTICE_PRECISE float z1 = r * sn;
  return vec2(z0, z1);
}

#ifdef __cplusplus
}  // namespace lattice::gpu::noise_math
#endif
#endif
