// Interface of the convolution shaders, the only declaration of it (included by the shaders and by
// conv.cpp). All three share one push-constant block, ConvPush, describing one conv3d problem (conv2d is
// the T = kt = 1 case); each shader reads the fields it needs.
//
// The logical input of a conv is the sequence of frames
//   [front context: pad_front frames][x: t frames][back padding: pad_t_back frames]
// where the last `tc` front frames come from CACHE (the caller's previous chunk) and the others are zeros,
// or with REPLICATE copies of the earliest real frame (cache frame 0, else x frame 0); back frames are
// zeros, or with REPLICATE copies of x's last frame. Spatially the input is zero-padded by pad_top/pad_left
// (bottom/right padding only changes the output size, computed on the host). conv_common.glsl implements
// this mapping once for every shader.
//
// conv_direct.comp (portable): bindings 0 X (f32 storage), 1 CACHE (f32 storage), 2 W (weights as uint
// words, decoded per W_TYPE), 3 BIAS (f32 storage), 4 OUT (f32 storage, NCDHW). One invocation per output
// element.
// conv_pack.comp: bindings 0 SRC (uint words, decoded per W_TYPE), 1 CACHE (f32), 2 DST (f32 storage).
// Writes frames [win_t0, win_t0 + pk_t) of the logical input of SRC with the spatial padding applied,
// either channels-last in RGBA texels ([n][pk_t][pk_h][pk_w][pk_c4] vec4, channels past cin are zero;
// PACK_CHANNELS_LAST) or plain NCDHW ([n][cin][pk_t][h][w]; PACK_NCDHW, for cache tails).
// conv_gemm.comp (texel variant): bindings 0 XP (RGBA32F texel buffer: X packed channels-last with all
// padding applied), 1 WP (RGBA32F texel buffer: weights packed [cout][kt][kh][kw][pk_c4]), 2 BIAS (f32
// storage), 3 OUT (f32 storage, NCDHW). Implicit GEMM: rows = output pixels, columns = output channels,
// reduction over taps x input-channel texels; a workgroup owns TM pixels x LOCAL*TN channels.
// Specialization constants: 0 W_TYPE (CONV_W_F32/F16/BF16; for conv_pack the SRC type), 1 HAS_BIAS
// (conv_direct, conv_gemm) or PACK_LAYOUT (conv_pack).
#include "../shaders/interface.h"
#define CONV_W_F32 0
#define CONV_W_F16 1
#define CONV_W_BF16 2
#define PACK_CHANNELS_LAST 0
#define PACK_NCDHW 1
#define CONV_LOCAL_SIZE 64
#define CONV_GEMM_LOCAL 8  // conv_gemm workgroup: one llvmpipe SIMD group
#define CONV_GEMM_TM 16    // output pixels per workgroup (shared by its lanes)
#define CONV_GEMM_TN 16    // output channels per lane
LATTICE_PUSH_BEGIN(ConvPush)
  LATTICE_U32(x_offset)     // elements; for conv_pack: SRC's offset
  LATTICE_U32(cache_offset)
  LATTICE_U32(w_offset)
  LATTICE_U32(bias_offset)
  LATTICE_U32(n)
  LATTICE_U32(cin)
  LATTICE_U32(cout)
  LATTICE_U32(t)            // input frames, height, width (without padding)
  LATTICE_U32(h)
  LATTICE_U32(w)
  LATTICE_U32(tc)           // cache frames (0: no cache)
  LATTICE_U32(pad_front)
  LATTICE_U32(pad_top)
  LATTICE_U32(pad_left)
  LATTICE_U32(replicate)    // 1: time padding replicates edge frames instead of zeros
  LATTICE_U32(kt)
  LATTICE_U32(kh)
  LATTICE_U32(kw)
  LATTICE_U32(st)
  LATTICE_U32(sh)
  LATTICE_U32(sw)
  LATTICE_U32(ot)           // output frames, height, width
  LATTICE_U32(oh)
  LATTICE_U32(ow)
  LATTICE_U32(win_t0)       // conv_pack: first logical frame written
  LATTICE_U32(pk_t)         // packed frames, height, width, RGBA texels per pixel
  LATTICE_U32(pk_h)
  LATTICE_U32(pk_w)
  LATTICE_U32(pk_c4)
  LATTICE_U32(count)        // work items of the dispatch (invocations that do something)
LATTICE_PUSH_END(ConvPush)
