#version 450
#extension GL_GOOGLE_include_directive : require
// The DiT blocks' pre-norm: LayerNorm or RMSNorm without affine, then adaLN modulation n*(1+scale)+shift, in
// one pass per row instead of a norm writing [B, L, C] and modulate.comp reading it back. Statistics are
// row_norm.glsl's; the output is rounded like modulate.comp (no fma contraction), so it equals the two ops
// up to the order of the statistics' sums. Compiled twice like norm.comp: portable, and TEXEL_IO for CPU
// devices (4 values a texel fetch, vec4 stores).
#include "norm_modulate_infos.h"
layout(local_size_x = NORM_MODULATE_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint MODE = NORM_MODULATE_LAYER;
#include "texel_io.glsl"
TEXEL_INPUT(0, x);
TEXEL_INPUT(1, scale);
TEXEL_INPUT(2, shift);
TEXEL_OUTPUT(3, y);
#include "row_norm.glsl"

void main() {
  uint r = lattice_flat_index();
  if (r >= pc.rows) return;
  uint b = r / pc.l, t = r % pc.l;
  uint base = pc.x_offset + r * pc.c;
  float mean, inv;
  row_norm_stats(base, pc.c, MODE == NORM_MODULATE_LAYER, pc.eps, mean, inv);
  // With TEXEL_IO the channel strides are 1 (modulate.cpp checks), so j * stride walks whole texels.
  uint p0 = pc.scale[0] + b * pc.scale[1] + t * pc.scale[2], q0 = pc.shift[0] + b * pc.shift[1] + t * pc.shift[2];
  for (uint j = 0; j < pc.c; j += STEP) {
    precise VALUE v = (LOAD(x, base + j) - mean) * inv;
    precise VALUE o = v * (1.0 + LOAD(scale, p0 + j * pc.scale[3])) + LOAD(shift, q0 + j * pc.shift[3]);
    y[(r * pc.c + j) / STEP] = o;
  }
}
