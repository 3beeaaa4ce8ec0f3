#pragma once
/// KernelDesc: what the runtime needs to know about one compiled compute shader. Each op's .cpp defines
/// one per shader, filled from that shader's *_infos.h (the single declaration of its interface) and the
/// SPIR-V array embedded at build time (lattice_add_shader in gpu/CMakeLists.txt).

#include <cstdint>
#include <span>
#include <vector>

namespace lattice::gpu {

enum class BindingKind {
  Storage,       ///< storage buffer (GLSL `buffer`)
  UniformTexel,  ///< uniform texel buffer (GLSL `samplerBuffer`/`usamplerBuffer`), format chosen per dispatch
};

struct KernelDesc {
  const char* name;                   ///< unique; the pipeline cache keys on it
  std::span<const uint32_t> spirv;    ///< the embedded SPIR-V
  std::vector<BindingKind> bindings;  ///< binding i of set 0
  uint32_t push_constant_bytes;       ///< sizeof the infos header's push struct
};

}  // namespace lattice::gpu
