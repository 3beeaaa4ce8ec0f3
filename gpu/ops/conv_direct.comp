#version 450
#extension GL_GOOGLE_include_directive : require
// Portable direct convolution: one invocation per output element, storage buffers only. Handles every
// padding mode and the cache itself (conv_common.glsl), so it needs no packing pass; correct on any
// Vulkan 1.2 device and the reference the faster variant is tested against.
#include "conv_infos.h"
layout(local_size_x = CONV_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint W_TYPE = CONV_W_F32;
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) readonly buffer CacheBuf { float cache[]; };
layout(std430, binding = 2) readonly buffer WBuf { uint conv_words[]; };
layout(std430, binding = 3) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 4) writeonly buffer OutBuf { float y[]; };
#include "conv_common.glsl"

void main() {
  uint i = lattice_flat_index();
  if (i >= pc.count) return;
  // i walks the NCDHW output: (nb, co, ot, oh, ow).
  uint r = i;
  int ow = int(r % pc.ow); r /= pc.ow;
  int oh = int(r % pc.oh); r /= pc.oh;
  int ot = int(r % pc.ot); r /= pc.ot;
  uint co = r % pc.cout;
  uint nb = r / pc.cout;
  uint hw = pc.h * pc.w;
  float acc = 0.0;
  for (uint dt = 0; dt < pc.kt; ++dt) {
    int frame;
    int src = conv_frame_source(ot * int(pc.st) + int(dt), frame);
    if (src == CONV_SRC_ZERO) continue;
    uint frames = src == CONV_SRC_X ? pc.t : pc.tc;
    uint base = (src == CONV_SRC_X ? pc.x_offset : pc.cache_offset) + (nb * pc.cin * frames + uint(frame)) * hw;
    for (uint dh = 0; dh < pc.kh; ++dh) {
      int ih = oh * int(pc.sh) + int(dh) - int(pc.pad_top);
      if (ih < 0 || ih >= int(pc.h)) continue;
      for (uint dw = 0; dw < pc.kw; ++dw) {
        int iw = ow * int(pc.sw) + int(dw) - int(pc.pad_left);
        if (iw < 0 || iw >= int(pc.w)) continue;
        uint at = base + uint(ih) * pc.w + uint(iw);
        uint wt = pc.w_offset + ((co * pc.cin * pc.kt + dt) * pc.kh + dh) * pc.kw + dw;
        uint taps = pc.kt * pc.kh * pc.kw;
        for (uint ci = 0; ci < pc.cin; ++ci) {
          float xv = src == CONV_SRC_X ? x[at] : cache[at];
          acc += xv * conv_decode(wt);
          at += frames * hw;
          wt += taps;
        }
      }
    }
  }
  y[i] = acc + (HAS_BIAS != 0u ? bias[pc.bias_offset + co] : 0.0);
}
