// The activation functions, listed once for C++ and GLSL (included by gpu/ops/unary.h and activation.glsl):
// X(name, glsl_function, id). C++ makes gpu::UnaryOp from it (UnaryOp::name == id); the shaders make
// lattice_activate(id, x), which unary.comp (id as its specialization constant) and the matmul epilogue
// (id in its push constant, matmul_infos.h) both call, so an activation added here exists everywhere at once.
// Id 0 is LATTICE_ACT_NONE (the matmul epilogue without an activation); ids must fit LATTICE_ACT_BITS bits.
#ifndef LATTICE_ACTIVATION_INFOS_H
#define LATTICE_ACTIVATION_INFOS_H
#define LATTICE_ACTIVATIONS(X)        \
  X(GeluErf, lattice_gelu_erf, 1)     \
  X(GeluTanh, lattice_gelu_tanh, 2)   \
  X(Silu, lattice_silu, 3)           \
  X(Exp, lattice_exp, 4)
#define LATTICE_ACT_NONE 0
#define LATTICE_ACT_BITS 4
#endif
