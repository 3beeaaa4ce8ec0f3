// Weight decoding shared by the matmul shaders. Include after B_TYPE (specialization constant 0) is
// declared. Each function turns packed 32-bit words of B into floats exactly (f16/bf16/fp8 are all exactly
// representable in f32); fp8 goes through f16 bits because llvmpipe flushes f32 denormals to zero while
// the f16 -> f32 conversion keeps f16 subnormals, which covers every e4m3fn/e5m2 subnormal.

// Two 16-bit weights (f16 or bf16 per B_TYPE) from one word, low half first.
vec2 matmul_decode_h16x2(uint w) {
  if (B_TYPE == MATMUL_B_F16) return unpackHalf2x16(w);
  return vec2(uintBitsToFloat(w << 16), uintBitsToFloat(w & 0xFFFF0000u));  // bf16: an f32's high half
}

// Four fp8 weights (e4m3fn or e5m2 per B_TYPE) from one word, lowest byte first.
vec4 matmul_decode_f8x4(uint w) {
  if (B_TYPE == MATMUL_B_F8E5M2)  // e5m2 is the high byte of an f16
    return vec4(unpackHalf2x16(((w & 0xFFu) << 8) | ((w & 0xFF00u) << 16)),
                unpackHalf2x16(((w >> 8) & 0xFF00u) | (w & 0xFF000000u)));
  // e4m3fn: exponent bias 7 vs f16's 15, so its bits shifted into an f16 are the value times 2^-8, and
  // e4m3fn subnormals land on f16 subnormals. S.1111.111 is NaN; there is no infinity.
  uvec4 b = (uvec4(w) >> uvec4(0u, 8u, 16u, 24u)) & 0xFFu;
  uvec4 h = ((b & 0x80u) << 8) | ((b & 0x7Fu) << 7);
  vec4 v = vec4(unpackHalf2x16(h.x | (h.y << 16)), unpackHalf2x16(h.z | (h.w << 16))) * 256.0;
  return mix(v, vec4(uintBitsToFloat(0x7FC00000u)), equal(b & 0x7Fu, uvec4(0x7Fu)));
}
