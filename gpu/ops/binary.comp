#version 450
#extension GL_GOOGLE_include_directive : require
// OUT[i] = (alpha A[...]) op (beta B[...]) with NumPy broadcasting folded into the strides.
// Compiled twice (gpu/CMakeLists.txt): portable, one element per invocation from storage buffers; and with
// TEXEL_IO for CPU devices, where the last dimension is a multiple of 4 and contiguous in both operands
// (binary.cpp checks): 4 elements per invocation read as RGBA32F texels and written as one vec4 (texel_io.glsl).
#include "binary_infos.h"
layout(local_size_x = BINARY_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint OP = BINARY_ADD;
#include "texel_io.glsl"
TEXEL_INPUT(0, a);
TEXEL_INPUT(1, b);
TEXEL_OUTPUT(2, o);

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
  // precise: no fused multiply-add, so each product rounds as the plain op of a scaled operand would.
  precise VALUE x = pc.alpha * LOAD(a, ai), y = pc.beta * LOAD(b, bi);
  precise VALUE r;
  if (OP == BINARY_ADD) r = x + y;
  else if (OP == BINARY_SUB) r = x - y;
  else if (OP == BINARY_MUL) r = x * y;
  else r = x / y;
  o[i] = r;
}
