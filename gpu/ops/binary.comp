#version 450
#extension GL_GOOGLE_include_directive : require
// OUT[i] = A[...] op B[...] with NumPy broadcasting folded into the strides.
// Compiled twice (gpu/CMakeLists.txt): portable, one element per invocation from storage buffers; and with
// BINARY_TEXEL for CPU devices, where the last dimension is a multiple of 4 and contiguous in both operands
// (binary.cpp checks): 4 elements per invocation read as RGBA32F texels and written as one vec4, since llvmpipe
// loads storage buffers at per-lane addresses one lane and one value at a time.
#include "binary_infos.h"
layout(local_size_x = BINARY_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint OP = BINARY_ADD;
#ifdef BINARY_TEXEL
layout(binding = 0) uniform samplerBuffer a;
layout(binding = 1) uniform samplerBuffer b;
layout(std430, binding = 2) writeonly buffer OutBuf { vec4 o[]; };
#define VALUE vec4
#define LOAD(buf, e) texelFetch(buf, int((e) / 4u))
#define STEP 4u
#else
layout(std430, binding = 0) readonly buffer ABuf { float a[]; };
layout(std430, binding = 1) readonly buffer BBuf { float b[]; };
layout(std430, binding = 2) writeonly buffer OutBuf { float o[]; };
#define VALUE float
#define LOAD(buf, e) buf[e]
#define STEP 1u
#endif

void main() {
  uint i = lattice_flat_index();
  if (i >= pc.numel / STEP) return;
  uint rest = i * STEP, ai = pc.a_offset, bi = pc.b_offset;
  for (int d = int(pc.rank) - 1; d >= 0; --d) {
    uint c = rest % pc.shape[d];
    rest /= pc.shape[d];
    ai += c * pc.a_strides[d];
    bi += c * pc.b_strides[d];
  }
  VALUE x = LOAD(a, ai), y = LOAD(b, bi);
  VALUE r;
  if (OP == BINARY_ADD) r = x + y;
  else if (OP == BINARY_SUB) r = x - y;
  else if (OP == BINARY_MUL) r = x * y;
  else r = x / y;
  o[i] = r;
}
