// Shared by the conv shaders: the logical input described in conv_infos.h, implemented once.
// Include after the push-constant block (conv_infos.h) and local-size declaration.

#define CONV_SRC_ZERO 0
#define CONV_SRC_X 1
#define CONV_SRC_CACHE 2

// Where logical frame `tl` (0 = first front-context frame) comes from: CONV_SRC_* and the frame index.
int conv_frame_source(int tl, out int frame) {
  int tx = tl - int(pc.pad_front);
  int t = int(pc.t);
  frame = 0;
  if (tx >= t) {
    frame = t - 1;
    return pc.replicate != 0u ? CONV_SRC_X : CONV_SRC_ZERO;
  }
  if (tx >= 0) {
    frame = tx;
    return CONV_SRC_X;
  }
  int tcache = int(pc.tc) + tx;  // the cache is the last tc front frames
  if (tcache >= 0) {
    frame = tcache;
    return CONV_SRC_CACHE;
  }
  if (pc.replicate == 0u) return CONV_SRC_ZERO;
  return pc.tc > 0u ? CONV_SRC_CACHE : CONV_SRC_X;  // earliest real frame; frame stays 0
}

// Weight/source words decoded per W_TYPE (a specialization constant of the including shader).
float conv_decode(uint idx) {
  if (W_TYPE == CONV_W_F32) return uintBitsToFloat(conv_words[idx]);
  uint w = conv_words[idx >> 1];
  if (W_TYPE == CONV_W_F16) return unpackHalf2x16(w)[idx & 1u];
  return uintBitsToFloat((idx & 1u) != 0u ? (w & 0xFFFF0000u) : (w << 16));
}
