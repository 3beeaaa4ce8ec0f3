// libFuzzer entry point for the safetensors reader (scripts/fuzz builds and runs it).
#include "tests/fuzz/fuzz_targets.h"
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lattice::fuzz::safetensors_reader(data, size);
  return 0;
}
