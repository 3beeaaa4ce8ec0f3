#version 450
#extension GL_GOOGLE_include_directive : require
// Materialises a window of a conv's logical input (conv_infos.h: cache, time padding, spatial zero
// padding) so the GEMM kernel that follows needs no bounds checks: channels-last RGBA texels for
// conv_gemm.comp (input and, with no padding, weights [cout][cin][taps] -> [cout][taps][cin]), or plain
// NCDHW for a cache tail handed to the next chunk.
#include "conv_infos.h"
layout(local_size_x = CONV_LOCAL_SIZE) in;
#include "common.glsl"

layout(constant_id = 0) const uint W_TYPE = CONV_W_F32;
layout(constant_id = 1) const uint PACK_LAYOUT = PACK_CHANNELS_LAST;
layout(std430, binding = 0) readonly buffer SrcBuf { uint conv_words[]; };
layout(std430, binding = 1) readonly buffer CacheBuf { float cache[]; };
layout(std430, binding = 2) writeonly buffer DstBuf { float dst[]; };
#include "conv_common.glsl"

// Channel c of logical frame `tl` at unpadded (ih, iw) of batch nb; 0 outside the input.
float logical_input(uint nb, uint c, int tl, int ih, int iw) {
  if (ih < 0 || ih >= int(pc.h) || iw < 0 || iw >= int(pc.w) || c >= pc.cin) return 0.0;
  int frame;
  int src = conv_frame_source(tl, frame);
  if (src == CONV_SRC_ZERO) return 0.0;
  uint hw = pc.h * pc.w, at = uint(ih) * pc.w + uint(iw);
  if (src == CONV_SRC_X) return conv_decode(pc.x_offset + ((nb * pc.cin + c) * pc.t + uint(frame)) * hw + at);
  return cache[pc.cache_offset + ((nb * pc.cin + c) * pc.tc + uint(frame)) * hw + at];
}

void main() {
  uint i = lattice_flat_index();
  if (i >= pc.count) return;
  uint r = i;
  if (PACK_LAYOUT == PACK_CHANNELS_LAST) {
    uint c4 = r % pc.pk_c4; r /= pc.pk_c4;
    int pw = int(r % pc.pk_w); r /= pc.pk_w;
    int ph = int(r % pc.pk_h); r /= pc.pk_h;
    int pt = int(r % pc.pk_t);
    uint nb = r / pc.pk_t;
    int tl = int(pc.win_t0) + pt, ih = ph - int(pc.pad_top), iw = pw - int(pc.pad_left);
    for (uint j = 0; j < 4u; ++j) dst[i * 4u + j] = logical_input(nb, c4 * 4u + j, tl, ih, iw);
  } else {
    int iw = int(r % pc.w); r /= pc.w;
    int ih = int(r % pc.h); r /= pc.h;
    int pt = int(r % pc.pk_t); r /= pc.pk_t;
    uint c = r % pc.cin, nb = r / pc.cin;
    dst[i] = logical_input(nb, c, int(pc.win_t0) + pt, ih, iw);
  }
}
