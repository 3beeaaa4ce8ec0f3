// The activation of the matmul epilogue, shared by the matmul shaders. Include after matmul_infos.h
// (pc.epilogue). Every variant computes v = acc + bias (when MATMUL_EPILOGUE_BIAS is set), then this.
#include "activation.glsl"

float matmul_activate(float v) {
  uint act = pc.epilogue >> MATMUL_EPILOGUE_ACT_SHIFT;
  if (act == MATMUL_ACT_GELU_ERF) return lattice_gelu_erf(v);
  if (act == MATMUL_ACT_GELU_TANH) return lattice_gelu_tanh(v);
  if (act == MATMUL_ACT_SILU) return lattice_silu(v);
  return v;
}
