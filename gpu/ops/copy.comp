#version 450
#extension GL_GOOGLE_include_directive : require
// DST[view] = SRC[view] with dtype conversion: the one kernel behind contiguous, cast, concat, permute,
// upsampling by replication and the (un)patchify / pixel-shuffle rearrangements, which are all views.
// Each invocation handles COPY_PER_INVOCATION consecutive logical elements so that a pair of 16-bit
// destination elements sharing a word is one plain store; only pairs split across words use atomics.
// Compiled twice (gpu/CMakeLists.txt); with TEXEL_IO (CPU devices, f32 to f32, the innermost dimension
// contiguous on both sides and every count, stride and offset a multiple of 4: copy.cpp checks) an invocation
// moves 4 consecutive elements as one RGBA32F texel fetch and one vec4 store (texel_io.glsl).
#include "copy_infos.h"
layout(local_size_x = COPY_LOCAL_SIZE) in;
#include "common.glsl"
#include "copy.glsl"

layout(constant_id = 0) const uint SRC_TYPE = DTYPE_F32;
layout(constant_id = 1) const uint DST_TYPE = DTYPE_F32;
#ifdef TEXEL_IO
#include "texel_io.glsl"
TEXEL_INPUT(0, src);
TEXEL_OUTPUT(1, dst);
#else
layout(std430, binding = 0) readonly buffer SrcBuf { uint src[]; };
layout(std430, binding = 1) buffer DstBuf { uint dst[]; };
#endif

// Element indices of logical element `logical` in the source and destination views.
uvec2 locate(uint logical) {
  uint rest = logical;
  uvec2 at = uvec2(pc.src_offset, pc.dst_offset);
  for (int d = int(pc.rank) - 1; d >= 0; --d) {
    uint c = rest % pc.shape[d];
    rest /= pc.shape[d];
    at += c * uvec2(pc.src_strides[d], pc.dst_strides[d]);
  }
  return at;
}

#ifdef TEXEL_IO
void main() {
  uint first = lattice_flat_index() * 4u;
  if (first >= pc.numel) return;
  uvec2 at = locate(first);  // the 4 elements from `first` are consecutive on both sides
  dst[at.y / 4u] = LOAD(src, at.x);
}
#else
// The destination bits of the element at source index `s`: raw bits when the types agree (bit-exact,
// NaN payloads included), otherwise decoded and re-encoded.
uint convert(uint s) {
  uint word = SRC_TYPE == DTYPE_F32 ? src[s] : src[s >> 1];
  uint bits = lattice_element_bits(word, s, SRC_TYPE);
  if (SRC_TYPE == DST_TYPE) return bits;
  return lattice_encode(lattice_decode(bits, SRC_TYPE), DST_TYPE);
}

void store16(uint d, uint bits) {
  uint shift = (d & 1u) * 16u;
  atomicAnd(dst[d >> 1], ~(0xFFFFu << shift));
  atomicOr(dst[d >> 1], bits << shift);
}

void main() {
  uint first = lattice_flat_index() * COPY_PER_INVOCATION;
  if (first >= pc.numel) return;
  uvec2 a = locate(first);
  uint va = convert(a.x);
  if (DST_TYPE == DTYPE_F32) {
    dst[a.y] = va;
    if (first + 1u < pc.numel) {
      uvec2 b = locate(first + 1u);
      dst[b.y] = convert(b.x);
    }
    return;
  }
  if (first + 1u < pc.numel) {
    uvec2 b = locate(first + 1u);
    uint vb = convert(b.x);
    if ((a.y & 1u) == 0u && b.y == a.y + 1u) {
      dst[a.y >> 1] = va | (vb << 16);
      return;
    }
    store16(b.y, vb);
  }
  store16(a.y, va);
}
#endif
