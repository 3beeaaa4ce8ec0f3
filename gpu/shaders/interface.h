// Shared by GLSL (glslangValidator -I gpu/shaders) and C++: the macros that let an op's *_infos.h declare
// its push-constant block once. In GLSL the block becomes `layout(push_constant) uniform ... { } pc;`
// (std430: scalars and scalar arrays are 4-byte packed, exactly like the C++ struct); in C++ a plain
// struct whose size the op's .cpp static_asserts. Use 32-bit scalars and arrays only, so both layouts agree.
#ifndef LATTICE_SHADER_INTERFACE_H
#define LATTICE_SHADER_INTERFACE_H
#ifdef __cplusplus
#include <cstdint>
#define LATTICE_PUSH_BEGIN(name) struct name {
#define LATTICE_PUSH_END(name) };
#define LATTICE_U32(n) uint32_t n;
#define LATTICE_I32(n) int32_t n;
#define LATTICE_F32(n) float n;
#define LATTICE_U32_ARRAY(n, len) uint32_t n[len];
#else
#define LATTICE_PUSH_BEGIN(name) layout(push_constant) uniform name##_block {
#define LATTICE_PUSH_END(name) } pc;
#define LATTICE_U32(n) uint n;
#define LATTICE_I32(n) int n;
#define LATTICE_F32(n) float n;
#define LATTICE_U32_ARRAY(n, len) uint n[len];
#endif
#endif
