// The activation of the matmul epilogue, shared by the matmul shaders. Include after matmul_infos.h
// (pc.epilogue). Every variant computes v = acc + bias (when MATMUL_EPILOGUE_BIAS is set), then this.
#include "activation.glsl"

float matmul_activate(float v) { return lattice_activate(pc.epilogue >> MATMUL_EPILOGUE_ACT_SHIFT, v); }
