// How an elementwise shader reads and writes its f32 operands, written once for every shader compiled in
// these variants (binary, copy, modulate, norm, norm_modulate, rope; attention keeps its own). The includer is
// compiled one of three ways (lattice_add_shader DEFINES in gpu/CMakeLists.txt):
//   TEXEL_IO       inputs are uniform texel buffers of RGBA32F texels (samplerBuffer), outputs vec4 storage
//                  buffers: 4 values a step. For CPU devices: llvmpipe loads a storage buffer at per-lane
//                  addresses one lane and one value at a time, and gathers a texel fetch for all lanes at once.
//   TEXEL_IO_VEC4  inputs and outputs are vec4 storage buffers: 4 values a step.
//   neither        inputs and outputs are float storage buffers: 1 value a step (portable).
// With 4 values a step every element index given to LOAD and every output index is a multiple of 4: the op's
// .cpp checks offsets, strides and counts (gpu/ops/texel_operands.h).
// TEXEL_INPUT(b, name) declares input `name` at binding b, TEXEL_OUTPUT(b, name) output `name`, written as
// name[e / STEP] = a VALUE. VALUE is one step's type, LOAD(name, e) the step from element e, SUM(v) the sum of
// a step's values.
#if defined(TEXEL_IO) || defined(TEXEL_IO_VEC4)
#define VALUE vec4
#define STEP 4u
#define SUM(v) (((v).x + (v).y) + ((v).z + (v).w))
#else
#define VALUE float
#define STEP 1u
#define SUM(v) (v)
#endif

#ifdef TEXEL_IO
#define TEXEL_INPUT(b, name) layout(binding = b) uniform samplerBuffer name
#define LOAD(buf, e) texelFetch(buf, int((e) / 4u))
#else
#define TEXEL_INPUT(b, name) layout(std430, binding = b) readonly buffer name##_buf { VALUE name[]; }
#define LOAD(buf, e) buf[(e) / STEP]
#endif
#define TEXEL_OUTPUT(b, name) layout(std430, binding = b) writeonly buffer name##_buf { VALUE name[]; }
