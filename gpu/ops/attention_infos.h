// Interface of attention.comp and attention_texel.comp (same bindings, push constants and specialization
// constants), the only declaration of it (included by the shaders and by attention.cpp).
// O[b, i, h, :] = softmax_j(scale * Q[b, h, i, :] . K[b, h, j, :] + MASK[b, j] + BIAS[h, i, j]) V[b, h, j, :],
// one invocation per ROWS consecutive query rows of one (batch, head), streaming over keys in blocks of
// ATTENTION_KEY_BLOCK with an online softmax (running max and sum), so no score matrix is ever stored.
// Bindings: 0 Q, 1 K, 2 V: f32 addressed as offset + b*sb + h*sh + row*sl + d (elements; the innermost
// stride is 1). Built twice from one source (gpu/CMakeLists.txt): with ATTENTION_TEXEL they are
// samplerBuffers of RGBA32F (so offsets and strides must be multiples of 4 and D of 4), otherwise f32
// storage buffers. 3 MASK (f32 storage, [*, Lk] additive, row mask_offset + b*mask_sb; unused without
// HAS_MASK), 4 BIAS (f32 storage, [*, Lq, Lk] additive, contiguous per head from bias_offset + h*bias_sh;
// unused without HAS_BIAS), 5 O (f32 storage, written contiguous [B, Lq, H, D]), 6 LSE (f32 storage,
// written contiguous [B, Lq, H] with each row's log-sum-exp of its scores; unused without WRITE_LSE).
// Specialization constants: 0 D (head dim, 1..ATTENTION_MAX_HEAD_DIM), 1 HAS_MASK, 2 HAS_BIAS, 3 CAUSAL
// (key j > query i + causal_shift excluded; shift 0 is top-left aligned as torch's is_causal), 4 ROWS (query rows per invocation;
// the dispatch covers B * H * ceil(Lq / ROWS) invocations), 5 WRITE_LSE, 6 KEYS (keys per inner step, a divisor
// of ATTENTION_KEY_BLOCK).
#include "../shaders/interface.h"
#define ATTENTION_LOCAL_SIZE 64
// 16 and 32 measure the same on lavapipe at 8 rows per invocation.
#define ATTENTION_KEY_BLOCK 16
// Keys per score tile of attention_texel.comp (the "texel_tile" variant); 32 measured no faster.
#define ATTENTION_TEXEL_KEY_BLOCK 16
#define ATTENTION_MAX_HEAD_DIM 256
LATTICE_PUSH_BEGIN(AttentionPush)
  LATTICE_U32(batch)
  LATTICE_U32(heads)
  LATTICE_U32(lq)
  LATTICE_U32(lk)
  LATTICE_U32(q_offset)
  LATTICE_U32(q_sb)
  LATTICE_U32(q_sh)
  LATTICE_U32(q_sl)
  LATTICE_U32(k_offset)
  LATTICE_U32(k_sb)
  LATTICE_U32(k_sh)
  LATTICE_U32(k_sl)
  LATTICE_U32(v_offset)
  LATTICE_U32(v_sb)
  LATTICE_U32(v_sh)
  LATTICE_U32(v_sl)
  LATTICE_U32(mask_offset)
  LATTICE_U32(mask_sb)
  LATTICE_U32(bias_offset)
  LATTICE_U32(bias_sh)
  LATTICE_F32(scale)
  LATTICE_I32(causal_shift)
LATTICE_PUSH_END(AttentionPush)
