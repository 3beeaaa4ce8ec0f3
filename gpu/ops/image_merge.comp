#version 450
#extension GL_GOOGLE_include_directive : require
// Composites B (placed at the top-left) onto A for one output pixel, RGBA out; image_merge_cpu()'s math,
// operation for operation.
#include "image_merge_infos.h"
layout(local_size_x = IMAGE_MERGE_LOCAL_SIZE) in;
#include "common.glsl"

layout(std430, binding = 0) readonly buffer ABuf { float a_in[]; };
layout(std430, binding = 1) readonly buffer BBuf { float b_in[]; };
layout(std430, binding = 2) writeonly buffer OutBuf { float y_out[]; };

// Channel promotion of image_merge_cpu(): grey repeats into R, G, B; missing alpha is 1.
vec4 rgba_a(uint base) {
  uint n = pc.a_channels;
  float g = a_in[base];
  vec4 v = n >= 3u ? vec4(g, a_in[base + 1u], a_in[base + 2u], 1.0) : vec4(g, g, g, 1.0);
  if (n == 4u) v.w = a_in[base + 3u];
  else if (n == 2u) v.w = a_in[base + 1u];
  return v;
}
vec4 rgba_b(uint base) {
  uint n = pc.b_channels;
  float g = b_in[base];
  vec4 v = n >= 3u ? vec4(g, b_in[base + 1u], b_in[base + 2u], 1.0) : vec4(g, g, g, 1.0);
  if (n == 4u) v.w = b_in[base + 3u];
  else if (n == 2u) v.w = b_in[base + 1u];
  return v;
}

void main() {
  uint p = lattice_flat_index();
  if (p >= pc.width * pc.height) return;
  uint x = p % pc.width, y = p / pc.width;
  vec4 av = rgba_a(pc.a_offset + p * pc.a_channels);
  // precise: no fusing into fma, so every add and multiply rounds as the CPU twin's does.
  precise vec4 r = av;
  if (x < pc.b_width && y < pc.b_height) {
    vec4 bv = rgba_b(pc.b_offset + (y * pc.b_width + x) * pc.b_channels);
    float ba = bv.w;
    if (pc.mode == IMAGE_MERGE_OVER) {  // straight alpha
      precise float keep = 1.0 - ba;
      r.xyz = bv.xyz * ba + av.xyz * keep;
      r.w = ba + av.w * keep;
    } else if (pc.mode == IMAGE_MERGE_ADD) {
      r.xyz = av.xyz + bv.xyz;
    } else if (pc.mode == IMAGE_MERGE_MULTIPLY) {
      r.xyz = av.xyz * bv.xyz;
    } else {
      r.xyz = 1.0 - (1.0 - av.xyz) * (1.0 - bv.xyz);
    }
  }
  precise vec4 o = av + (r - av) * pc.mix;
  uint base = p * 4u;
  y_out[base] = o.x;
  y_out[base + 1u] = o.y;
  y_out[base + 2u] = o.z;
  y_out[base + 3u] = o.w;
}
