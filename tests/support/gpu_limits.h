#pragma once
// A GPU service whose device buffers are limited to `bytes` (0: the device's own limit), for tests of the paths
// that split work to fit (LATTICE_GPU_MAX_BUFFER_BYTES is set while its context is created, then cleared).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "nodes/gpu_service.h"

namespace lattice::test {

inline std::shared_ptr<GpuService> gpu_with_buffer_limit(uint64_t bytes) {
  if (bytes) setenv("LATTICE_GPU_MAX_BUFFER_BYTES", std::to_string(bytes).c_str(), 1);
  auto service = std::make_shared<GpuService>();
  service->context();
  unsetenv("LATTICE_GPU_MAX_BUFFER_BYTES");
  return service;
}

}  // namespace lattice::test
