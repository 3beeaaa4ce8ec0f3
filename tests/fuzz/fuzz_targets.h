#pragma once
// Fuzz bodies shared by the libFuzzer binaries (clang, -fsanitize=fuzzer) and the deterministic
// mutation test that runs in every ctest build. Each returns normally for any input: malformed input
// must end in lattice::Error, never a crash, hang or out-of-bounds access.
#include <cstddef>
#include <cstdint>

namespace lattice::fuzz {
void lattice_parser(const uint8_t* data, size_t size);
void safetensors_reader(const uint8_t* data, size_t size);
}  // namespace lattice::fuzz
