// Parts shared by attention.comp and attention_texel.comp (interface: attention_infos.h): the specialization
// constants, the mask/bias/output-LSE bindings, and the per-row steps of the online softmax that do not depend on
// how a kernel computes its scores or accumulates P.V. Include after attention_infos.h and common.glsl.

layout(constant_id = 0) const uint D = 64;
layout(constant_id = 1) const uint HAS_MASK = 0;
layout(constant_id = 2) const uint HAS_BIAS = 0;
layout(constant_id = 3) const uint CAUSAL = 0;
layout(constant_id = 4) const uint ROWS = 1;
layout(constant_id = 5) const uint WRITE_LSE = 0;
layout(constant_id = 6) const uint KEYS = 1;

layout(std430, binding = 3) readonly buffer MaskBuf { float key_mask[]; };
layout(std430, binding = 4) readonly buffer BiasBuf { float score_bias[]; };
layout(std430, binding = 6) writeonly buffer LseBuf { float lse[]; };

const float NEG_INF = -1.0 / 0.0;

// End of the keys the row group starting at i0 sees. Causal: no row of the group sees a key past its last row's
// (i + shift); with a negative shift there may be none.
uint attention_key_end(uint i0) {
  return CAUSAL != 0u ? uint(clamp(int(min(i0 + ROWS, pc.lq)) + pc.causal_shift, 0, int(pc.lk))) : pc.lk;
}

// Score of query row i (< Lq + ROWS; rows past Lq repeat the last) and key j (keys from kend on are dropped) from
// its scaled dot product and key mask term: adds the bias, -inf where the key is dropped or causally hidden.
float attention_score(float sc, uint i, uint j, uint kend, uint bias_base) {
  if (HAS_BIAS != 0u) sc += score_bias[bias_base + min(i, pc.lq - 1u) * pc.lk + min(j, kend - 1u)];
  bool dropped = j >= kend || (CAUSAL != 0u && int(j) > int(i) + pc.causal_shift);
  return dropped ? NEG_INF : sc;
}

// Folds a block of scores with maximum block_max into a row's running max m and sum l. Returns the factor by which
// the row's accumulator (and l, done here) must be scaled, and sets ref, the point the block's scores are
// exponentiated against. A row whose max is still -inf (all its keys so far masked) keeps a zero accumulator; its
// reference point is 0 so that exp(-inf - 0) = 0 rather than NaN.
float attention_fold_block(inout float m, inout float l, float block_max, out float ref) {
  float nm = max(m, block_max);
  bool none = nm == NEG_INF;
  float corr = none ? 1.0 : exp(m - nm);  // 0 on the first finite block (m = -inf)
  l *= corr;
  m = nm;
  ref = none ? 0.0 : nm;
  return corr;
}

// Ends row i of (b, h): writes its log-sum-exp when asked and returns the factor 1/l for its accumulator. l is 0
// only when every key was -inf: the row comes out as zeros (PyTorch gives NaN), its lse -inf.
float attention_finish_row(uint b, uint i, uint h, float m, float l) {
  if (WRITE_LSE != 0u && i < pc.lq) lse[(b * pc.lq + i) * pc.heads + h] = l > 0.0 ? m + log(l) : NEG_INF;
  return l > 0.0 ? 1.0 / l : 0.0;
}
